import Foundation
import LumenArena
@testable import LumenEval
import LumenModels
@testable import LumenScenes
import LumenTensor
import Testing

/// `lumen eval`: the scene checker against PyTorch, the Fréchet distance against scipy, the
/// prompt set, the judges and the prompts file.
@Suite struct EvalTests {
    @Test func checkerMatchesPyTorch() throws {
        let checker = try SceneChecker(folder: Fixtures.path("checker-tiny"))
        let io = try Fixtures.tensors("checker-tiny-io")
        let pixels = io["pixels"]!.data.map { UInt8($0) }
        let input = checker.input(pixels: pixels, width: 24, height: 20)
        #expect(maxError(input, io["input"]!) < 1e-5)
        let features = checker.embed(io["input"]!)
        #expect(maxError(features, io["features"]!) < 1e-4)
        #expect(maxError(checker.logits(fromFeatures: features), io["logits"]!) < 1e-4)
        // Reading: every head named, objects only from slots with both a shape and a colour.
        let reading = checker.read(io["logits"]!, row: 0)
        #expect(reading.labels.count == checker.config.heads.count)
        #expect(reading.objects.count <= checker.config.slots)
        #expect(!reading.objects.contains { $0.shape == "none" || $0.color == "none" })
    }

    @Test func checkerConfigErrorsNameTheField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("checker-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = try #require(try Fixtures.json("checker-tiny/config.json") as? [String: Any])
        config["heads"] = [["count", 99]]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try SceneChecker(folder: dir) } throws: { "\($0)".contains("labels") && "\($0)".contains("count") }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try SceneChecker(folder: dir) } throws: { "\($0)".contains("image_size") }
    }

    @Test func frechetDistanceMatchesScipy() throws {
        let f = try Fixtures.tensors("frechet")
        func rows(_ t: Tensor) -> [[Float]] { (0..<t.shape[0]).map { Array(t.data[($0 * t.shape[1])..<(($0 + 1) * t.shape[1])]) } }
        let d = FrechetDistance.distance(FrechetDistance.fit(rows(f["a"]!)), FrechetDistance.fit(rows(f["b"]!)))
        let expected = Double(f["distance"]!.data[0])
        #expect(abs(d - expected) < 1e-3 * expected, "\(d) vs \(expected)")
        // Identical sets are at distance 0; the distance is symmetric.
        let a = FrechetDistance.fit(rows(f["a"]!)), b = FrechetDistance.fit(rows(f["b"]!))
        #expect(FrechetDistance.distance(a, a) < 1e-6)
        #expect(abs(FrechetDistance.distance(a, b) - FrechetDistance.distance(b, a)) < 1e-6 * expected)
    }

    @Test func constraintsHoldAndLeaveUnconstrainedDrawsUnchanged() {
        // Every task name has its scene table in LumenScenes (which the training renderer also
        // reads), and every task is constrained: a renamed task must not fall back to `.none`.
        for task in EvalTask.allCases {
            #expect(SceneConstraints.evalTask(task.rawValue) != nil, "\(task.rawValue) has no scene constraints")
        }
        #expect(SceneConstraints.evalTask("colour") == nil)
        for task in EvalTask.allCases {
            let c = task.constraints
            for index in 0..<6 {
                let s = SceneSampler.sample(seed: 3, index: index, split: .heldout, constraints: c)
                if let r = c.objectCounts { #expect(r.contains(s.objects.count)) }
                if let styles = c.styles { #expect(styles.contains(s.style)) }
                if let times = c.times { #expect(times.contains(s.timeOfDay)) }
                if let m = c.materials { #expect(s.objects.allSatisfy { m.contains($0.material) }) }
                if let z = c.sizes { #expect(s.objects.allSatisfy { z.contains($0.size) }) }
                if c.distinctShapes { #expect(Set(s.objects.map(\.shape)).count == s.objects.count) }
                // Still the held-out split: a held-out pair in every scene.
                #expect(s.objects.contains { HeldOut.isHeldOut($0, biome: s.biome) })
            }
        }
        // `.none` is the unconstrained sampler, draw for draw.
        for index in 0..<5 {
            let a = SceneSampler.sample(seed: 9, index: index, split: .train)
            let b = SceneSampler.sample(seed: 9, index: index, split: .train, constraints: .none)
            #expect(a.objects == b.objects && a.style == b.style && a.timeOfDay == b.timeOfDay && a.biome == b.biome)
        }
    }

    @Test func builtInPromptsStateWhatTheirScenesShow() {
        let cases = EvalPromptSet.build(perTask: 2, seed: 3, split: .heldout, size: 32)
        #expect(cases.count == 2 * EvalTask.allCases.count)
        for c in cases {
            let e = c.item.expect
            #expect(c.render?.count == 32 * 32 * 3)
            switch c.item.task {
            case .color: #expect(c.item.prompt.contains(e.color!))
            case .shape: #expect(c.item.prompt.contains(e.shape!) || (e.shape == "sphere" && c.item.prompt.contains("ball"))
                                 || (e.shape == "cube" && c.item.prompt.contains("block")) || (e.shape == "torus" && c.item.prompt.contains("ring")))
            case .count: #expect((2...4).contains(e.count!))
            case .colorBinding: #expect(e.objects!.count == 2 && e.objects!.allSatisfy { c.item.prompt.contains($0[0]) })
            case .position: #expect(c.item.prompt.contains("to the left of") || c.item.prompt.contains("to the right of"))
            case .biome: #expect(Biome(rawValue: e.biome!) != nil)
            case .timeOfDay: #expect(TimeOfDay(rawValue: e.timeOfDay!) != nil)
            case .style: #expect(Style(rawValue: e.style!) != nil)
            }
        }
        // The same arguments give the same prompts.
        let again = EvalPromptSet.build(perTask: 2, seed: 3, split: .heldout, size: 32)
        #expect(again.map(\.item.prompt) == cases.map(\.item.prompt))
    }

    func reading(_ objects: [(String, String)], count: Int? = nil, labels: [String: String] = [:]) -> CheckerReading {
        var l = labels
        l["count"] = String(count ?? objects.count)
        return CheckerReading(labels: l, objects: objects.map { (shape: $0.0, color: $0.1) })
    }

    @Test func judges() {
        let red = EvalItem(task: .color, prompt: "p", expect: EvalExpectation(color: "red"))
        #expect(EvalJudge.passes(red, reading([("cube", "red")])))
        #expect(!EvalJudge.passes(red, reading([("cube", "blue")])))
        let three = EvalItem(task: .count, prompt: "p", expect: EvalExpectation(count: 3))
        #expect(EvalJudge.passes(three, reading([], count: 3)))
        #expect(!EvalJudge.passes(three, reading([], count: 2)))
        let binding = EvalItem(task: .colorBinding, prompt: "p", expect: EvalExpectation(objects: [["red", "cone"], ["blue", "cube"]]))
        #expect(EvalJudge.passes(binding, reading([("cube", "blue"), ("cone", "red")])))
        // Colours swapped between the shapes: both colours and both shapes are there, but not bound.
        #expect(!EvalJudge.passes(binding, reading([("cube", "red"), ("cone", "blue")])))
        let left = EvalItem(task: .position, prompt: "p", expect: EvalExpectation(left: "cone", right: "cube"))
        #expect(EvalJudge.passes(left, reading([("cone", "red"), ("cube", "blue")])))
        #expect(!EvalJudge.passes(left, reading([("cube", "blue"), ("cone", "red")])))
        #expect(!EvalJudge.passes(left, reading([("cone", "red")])))
        let night = EvalItem(task: .timeOfDay, prompt: "p", expect: EvalExpectation(timeOfDay: "night"))
        #expect(EvalJudge.passes(night, reading([], labels: ["time_of_day": "night"])))
        #expect(!EvalJudge.passes(night, reading([], labels: ["time_of_day": "noon"])))
    }

    @Test func promptsFileRoundTripsAndErrorsNameTheLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eval-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let items = EvalPromptSet.build(tasks: [.color, .position], perTask: 1, seed: 3, split: .heldout, size: 16).map(\.item)
        try EvalPromptSet.jsonLines(items).write(toFile: dir + "/ok.jsonl", atomically: true, encoding: .utf8)
        let loaded = try EvalPromptSet.load(path: dir + "/ok.jsonl")
        #expect(loaded.map(\.prompt) == items.map(\.prompt))
        #expect(loaded.map(\.expect) == items.map(\.expect))
        let bad: [(String, String)] = [
            ("{\"task\": \"color\", \"prompt\": \"a red cube\", \"expect\": {}}\n", "line 1: a 'color' prompt needs expect.color"),
            ("\n{\"task\": \"colour\", \"prompt\": \"x\", \"expect\": {}}\n", "line 2: invalid value for 'task'"),
            ("{not json\n", "line 1: not JSON"),
            ("{\"task\": \"count\", \"prompt\": \"two cubes\", \"expect\": {\"count\": \"two\"}}\n", "expect.count"),
            ("# only a comment\n", "empty"),
        ]
        for (text, message) in bad {
            try text.write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
            #expect { try EvalPromptSet.load(path: dir + "/bad.jsonl") } throws: { "\($0)".contains(message) }
        }
    }

    @Test func automaticBattlesFollowTheChecker() throws {
        let items = (0..<4).map { EvalItem(task: $0 < 2 ? .color : .count, prompt: "p\($0)", expect: EvalExpectation()) }
        let battles = AutomaticBattles.battles(items: items, verdicts: [("a", [true, true, false, false]), ("b", [false, true, true, false]),
                                                                       ("c", [false, false, false, false])], tstamp: 1)
        #expect(battles.count == 4 * 3)
        #expect(battles.allSatisfy { $0.judge == AutomaticBattles.checkerJudge && $0.anony && $0.modelA != $0.modelB })
        func outcome(_ k: Int, _ x: String, _ y: String) -> Double? {
            battles.filter { $0.prompt == "p\(k)" }.first { Set([$0.modelA, $0.modelB]) == Set([x, y]) }
                .map { $0.modelA == x ? $0.winner.scoreA : 1 - $0.winner.scoreA }
        }
        #expect(outcome(0, "a", "b") == 1)     // a passed, b failed
        #expect(outcome(1, "a", "b") == 0.5)   // both passed: tie
        #expect(outcome(2, "a", "b") == 0)     // b passed
        #expect(outcome(3, "a", "c") == 0.5)   // neither: tie (bothbad)
        #expect(battles.filter { $0.prompt == "p3" }.allSatisfy { $0.winner == .bothBad })
        #expect(battles.filter { $0.prompt == "p1" && Set([$0.modelA, $0.modelB]) == Set(["a", "b"]) }.first?.winner == .tie)
        // Sides alternate between prompts; categories are the tasks; the log round-trips.
        #expect(battles.first { $0.prompt == "p0" }?.modelA == "a" && battles.first { $0.prompt == "p1" }?.modelA != "a")
        #expect(Set(battles.compactMap(\.category)) == ["color", "count"])
        #expect(try BattleLog.decode(try BattleLog.encode(battles)) == battles)
        // The same code as human votes ranks them: a passes most often.
        #expect(Leaderboard(battles: battles, options: Leaderboard.Options()).entries.first?.model == "a")
    }
}

/// The shipped checker (models/lumen-checker) loads through the normal loader and reads held-out
/// renders it never saw: the biome (a trusted head) of each, and the colour of single objects.
@Suite struct ShippedCheckerTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models/lumen-checker").standardized.path

    @Test func readsHeldOutRenders() throws {
        let checker = try SceneChecker(folder: Self.folder)
        #expect(checker.config.imageSize == 64)
        let cases = EvalPromptSet.build(tasks: [.color, .biome], perTask: 4, seed: 3, split: .heldout)
        var biomes = 0, colors = 0
        for c in cases {
            let reading = checker.read(checker(checker.input(pixels: c.render!, width: 64, height: 64)), row: 0)
            if c.item.task == .biome, reading.labels["biome"] == c.item.expect.biome { biomes += 1 }
            if c.item.task == .color, EvalJudge.passes(c.item, reading) { colors += 1 }
        }
        #expect(biomes == 4)
        #expect(colors >= 3)
    }
}

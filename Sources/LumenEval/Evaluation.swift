import Foundation
import LumenModels
import LumenPipelines
import LumenTensor

/// Per-task result of an evaluation.
public struct TaskScore: Codable, Sendable, Equatable {
    public var task: String
    public var prompts: Int
    /// Share of generated pictures the judge passed.
    public var accuracy: Double
    /// Share of the prompts' own scene renders the judge passed: what a perfect generator would
    /// score through this checker (nil when the prompts came without scenes).
    public var ceiling: Double?
    /// Issue 4's bar for the task, and whether the accuracy meets it.
    public var bar: Double?
    public var meetsBar: Bool?
    /// The checker is trusted on a task only when its ceiling is at least 98 %.
    public var checkerTrusted: Bool?
}

/// The whole report of `lumen eval` (also its JSON output).
public struct EvalReport: Codable, Sendable {
    public var model: String
    public var checker: String
    public var prompts: String
    public var steps: Int
    public var guidance: Double
    public var seed: UInt64
    public var tasks: [TaskScore]
    /// Fréchet distance between the checker's features of generated pictures and of the scene
    /// renders (ours, not Inception FID); nil without renders.
    public var frechetDistance: Double?
    public var frechetNote = "Fréchet distance on the Lumen scene checker's 512-d features (not Inception FID); compare only runs with the same checker and prompts"
    public var seconds: Double

    /// A plain-text table.
    public var table: String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%5.1f%%", $0 * 100) } ?? "   n/a" }
        var lines = ["task            prompts  accuracy  bar     ceiling  checker"]
        for t in tasks {
            let name = t.task.padding(toLength: 15, withPad: " ", startingAt: 0)
            let trusted = t.checkerTrusted.map { $0 ? "trusted" : "below 98%" } ?? "-"
            let bar = t.bar.map { String(format: "%3.0f%% %@", $0 * 100, t.meetsBar == true ? "✓" : "✗") } ?? "  -   "
            lines.append("\(name) \(String(format: "%7d", t.prompts))  \(pct(t.accuracy))    \(bar)  \(pct(t.ceiling))   \(trusted)")
        }
        if let fd = frechetDistance { lines.append(String(format: "Fréchet distance (checker features, not FID): %.3f", fd)) }
        return lines.joined(separator: "\n")
    }
}

/// The checker alone on the prompts' own scene renders: its accuracy per task is the ceiling
/// any generator can reach through it (`lumen eval --checker-only`).
public enum CheckerCeiling {
    public static func measure(_ cases: [EvalCase], checker: SceneChecker) -> [TaskScore] {
        EvalTask.allCases.compactMap { task in
            let mine = cases.filter { $0.item.task == task && $0.render != nil }
            guard !mine.isEmpty else { return nil }
            let passed = mine.filter { c in
                EvalJudge.passes(c.item, checker.read(pixels: c.render!, width: c.renderSize, height: c.renderSize).0)
            }.count
            let ceiling = Double(passed) / Double(mine.count)
            return TaskScore(task: task.rawValue, prompts: mine.count, accuracy: ceiling, ceiling: ceiling, bar: nil, meetsBar: nil,
                             checkerTrusted: ceiling >= 0.98)
        }
    }
}

/// Runs an evaluation: generates one picture per prompt with a fixed seed, reads it and the
/// prompt's scene render with the checker, and scores each task (GenEval-style).
public struct Evaluator {
    public var pipeline: StableDiffusionPipeline
    public var checker: SceneChecker
    public var steps: Int
    public var guidance: Float
    public var seed: UInt64

    public init(pipeline: StableDiffusionPipeline, checker: SceneChecker, steps: Int, guidance: Float, seed: UInt64) {
        self.pipeline = pipeline; self.checker = checker; self.steps = steps; self.guidance = guidance; self.seed = seed
    }

    /// The verdict on one prompt.
    public struct ItemResult: Sendable {
        /// The judge passed the generated picture.
        public var passed: Bool
        /// The judge passed the prompt's scene render (nil without a render).
        public var renderPassed: Bool?
        public var features: [Float]
        public var renderFeatures: [Float]?
    }

    /// Generates one picture per case (seed `seed + k` for the k-th) and judges it and the case's
    /// render; `progress(done, total)` after each, returning false cancels.
    public func judge(_ cases: [EvalCase], progress: (Int, Int) -> Bool = { _, _ in true }) throws -> [ItemResult] {
        var results: [ItemResult] = []
        for (k, c) in cases.enumerated() {
            var request = GenerationRequest(prompt: c.item.prompt)
            request.steps = steps
            request.guidanceScale = guidance
            request.seed = seed &+ UInt64(k)
            guard let image = try pipeline.generate(request).first else { throw CancellationError() }
            let (reading, features) = checker.read(pixels: image.pixels, width: image.width, height: image.height)
            var result = ItemResult(passed: EvalJudge.passes(c.item, reading), renderPassed: nil, features: features, renderFeatures: nil)
            if let render = c.render {
                let (renderReading, renderFeatures) = checker.read(pixels: render, width: c.renderSize, height: c.renderSize)
                result.renderPassed = EvalJudge.passes(c.item, renderReading)
                result.renderFeatures = renderFeatures
            }
            results.append(result)
            if !progress(k + 1, cases.count) { throw CancellationError() }
        }
        return results
    }

    /// Judges every case and scores each task.
    public func run(_ cases: [EvalCase], modelName: String, checkerName: String, promptsName: String,
                    progress: (Int, Int) -> Bool = { _, _ in true }) throws -> EvalReport {
        let start = Date()
        let results = try judge(cases, progress: progress)
        var report = Self.report(cases, results)
        report.model = modelName; report.checker = checkerName; report.prompts = promptsName
        report.steps = steps; report.guidance = Double(guidance); report.seed = seed
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Per-task accuracy and ceiling, and the Fréchet distance, from judged cases.
    public static func report(_ cases: [EvalCase], _ results: [ItemResult]) -> EvalReport {
        let scores = EvalTask.allCases.compactMap { task -> TaskScore? in
            let mine = zip(cases, results).filter { $0.0.item.task == task }.map(\.1)
            guard !mine.isEmpty else { return nil }
            let acc = Double(mine.filter(\.passed).count) / Double(mine.count)
            let rendered = mine.compactMap(\.renderPassed)
            let ceiling = rendered.isEmpty ? nil : Double(rendered.filter { $0 }.count) / Double(rendered.count)
            return TaskScore(task: task.rawValue, prompts: mine.count, accuracy: acc, ceiling: ceiling, bar: task.bar,
                             meetsBar: task.bar.map { acc >= $0 }, checkerTrusted: ceiling.map { $0 >= 0.98 })
        }
        let generated = results.map(\.features), renders = results.compactMap(\.renderFeatures)
        var fd: Double?
        if generated.count >= 2 && renders.count >= 2 {
            fd = FrechetDistance.distance(FrechetDistance.fit(generated), FrechetDistance.fit(renders))
        }
        return EvalReport(model: "", checker: "", prompts: "", steps: 0, guidance: 0, seed: 0, tasks: scores, frechetDistance: fd, seconds: 0)
    }
}

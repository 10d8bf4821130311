import Foundation
import LumenScenes

/// The prompts of an evaluation: built from scene-studio scenes (by default the held-out split,
/// whose colour–shape and shape–biome pairs the training code never saw), or read from a JSON
/// Lines file (`{"task": …, "prompt": …, "expect": {…}}` per line, as `lumen eval --write-prompts`
/// writes them).
public enum EvalPromptSet {
    /// `perTask` prompts for each task, from scenes `seed`/`split` drawn under the task's
    /// constraints, each with its render at `size` (rendered as the training pictures are: 2×
    /// supersampled, one sample per pixel) for the checker's ceiling. Task t uses scene indices
    /// from t·100 000, so adding prompts to one task never changes another's.
    public static func build(tasks: [EvalTask] = EvalTask.allCases, perTask: Int, seed: UInt64, split: SceneSplit,
                             size: Int = 64) -> [EvalCase] {
        var cases: [EvalCase] = []
        for task in tasks {
            let base = (EvalTask.allCases.firstIndex(of: task) ?? 0) * 100_000
            var made = 0, index = base
            while made < perTask && index < base + perTask * 50 {
                let r = SceneStudio.render(seed: seed, index: index, split: split, size: size, samples: 1, supersample: 2,
                                           constraints: task.constraints)
                if let item = item(task, scene: r.scene, seed: seed, index: index, split: split) {
                    cases.append(EvalCase(item: item, render: r.rgb, renderSize: size))
                    made += 1
                }
                index += 1
            }
        }
        return cases
    }

    /// The prompt and expectation for one task from a rendered scene, or nil when the scene cannot
    /// pose it (no clear left/right relation in the picture).
    static func item(_ task: EvalTask, scene: Scene, seed: UInt64, index: Int, split: SceneSplit) -> EvalItem? {
        let o = scene.objects
        var e = EvalExpectation()
        var prompt = scene.captions[0]
        switch task {
        case .color: e.color = o[0].color.rawValue
        case .shape: e.shape = o[0].shape.rawValue
        case .count: e.count = o.count
        case .colorBinding: e.objects = o.map { [$0.color.rawValue, $0.shape.rawValue] }
        case .position:
            guard let rel = scene.relations.first(where: { $0.relation == "left of" || $0.relation == "right of" }),
                  let a = o.first(where: { $0.id == rel.subject }), let b = o.first(where: { $0.id == rel.object }),
                  scene.captions.count > 3 else { return nil }
            prompt = scene.captions[3]
            (e.left, e.right) = rel.relation == "left of" ? (a.shape.rawValue, b.shape.rawValue) : (b.shape.rawValue, a.shape.rawValue)
        case .biome: e.biome = scene.biome.rawValue
        case .timeOfDay: e.timeOfDay = scene.timeOfDay.rawValue
        case .style: e.style = scene.style.rawValue
        }
        return EvalItem(task: task, prompt: prompt, expect: e, seed: seed, index: index, split: split.rawValue)
    }

    /// Reads a JSON Lines prompts file; every line must state what its task checks.
    public static func load(path: String) throws -> [EvalItem] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw EvalError.badPromptLine(line: 0, reason: "cannot read \(path)")
        }
        var items: [EvalItem] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let item: EvalItem
            do {
                item = try JSONDecoder().decode(EvalItem.self, from: Data(trimmed.utf8))
            } catch let DecodingError.dataCorrupted(c) where !c.codingPath.isEmpty {
                let field = c.codingPath.map(\.stringValue).joined(separator: ".")
                let hint = field == "task" ? " (tasks: \(EvalTask.allCases.map(\.rawValue).joined(separator: ", ")))" : ""
                throw EvalError.badPromptLine(line: n + 1, reason: "invalid value for '\(field)'\(hint)")
            } catch let DecodingError.dataCorrupted(c) {
                throw EvalError.badPromptLine(line: n + 1, reason: "not JSON (\(c.debugDescription))")
            } catch let DecodingError.keyNotFound(k, _) {
                throw EvalError.badPromptLine(line: n + 1, reason: "missing field '\(k.stringValue)'")
            } catch let DecodingError.typeMismatch(_, c) {
                throw EvalError.badPromptLine(line: n + 1, reason: "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'")
            } catch DecodingError.valueNotFound(_, let c) {
                throw EvalError.badPromptLine(line: n + 1, reason: "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'")
            } catch {
                throw EvalError.badPromptLine(line: n + 1, reason: "unknown task or malformed line (tasks: \(EvalTask.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if item.prompt.trimmingCharacters(in: .whitespaces).isEmpty { throw EvalError.badPromptLine(line: n + 1, reason: "empty prompt") }
            if let missing = EvalJudge.missingField(item) { throw EvalError.missingExpectation(line: n + 1, task: item.task.rawValue, field: missing) }
            items.append(item)
        }
        if items.isEmpty { throw EvalError.emptyPromptSet }
        return items
    }

    /// JSON Lines text of `items` (the format `load` reads).
    public static func jsonLines(_ items: [EvalItem]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try items.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    }
}

/// A prompt with, for built-in prompts, the render of its scene (sRGB bytes).
public struct EvalCase: Sendable {
    public var item: EvalItem
    public var render: [UInt8]?
    public var renderSize: Int
    public init(item: EvalItem, render: [UInt8]? = nil, renderSize: Int = 0) { self.item = item; self.render = render; self.renderSize = renderSize }
}

import Foundation
import LumenScenes

/// One GenEval-style task (Ghosh et al. 2023, "GenEval: An Object-Focused Framework for
/// Evaluating Text-to-Image Alignment"), adapted to the scene studio's grammar: a prompt, the
/// facts it states, and a judge that checks those facts in what the scene checker reads.
public enum EvalTask: String, Codable, Sendable, CaseIterable {
    case color, shape, count
    case colorBinding = "color_binding"
    case position, biome
    case timeOfDay = "time_of_day"
    case style

    /// The quality bar of issue 4 (`nil`: reported, no bar).
    public var bar: Double? {
        switch self {
        case .color: 0.90
        case .shape: 0.75
        case .count: 0.40
        case .colorBinding: 0.35
        case .position: 0.65
        case .biome: 0.80
        case .timeOfDay: 0.85
        case .style: nil
        }
    }

    /// Scenes for this task (`SceneConstraints.evalTask`, shared with the training renderer).
    public var constraints: SceneConstraints { SceneConstraints.evalTask(rawValue) ?? .none }
}

/// What a prompt states, in the checker's vocabulary.
public struct EvalExpectation: Codable, Sendable, Equatable {
    public var color: String?
    public var shape: String?
    public var count: Int?
    /// Objects as `[color, shape]` pairs (colour binding).
    public var objects: [[String]]?
    /// Shapes of the object on the left and on the right (position).
    public var left: String?
    public var right: String?
    public var biome: String?
    public var timeOfDay: String?
    public var style: String?

    enum CodingKeys: String, CodingKey {
        case color, shape, count, objects, left, right, biome, style
        case timeOfDay = "time_of_day"
    }

    public init(color: String? = nil, shape: String? = nil, count: Int? = nil, objects: [[String]]? = nil, left: String? = nil,
                right: String? = nil, biome: String? = nil, timeOfDay: String? = nil, style: String? = nil) {
        self.color = color; self.shape = shape; self.count = count; self.objects = objects; self.left = left
        self.right = right; self.biome = biome; self.timeOfDay = timeOfDay; self.style = style
    }
}

/// One evaluation prompt: a task, the prompt text, what it states, and (for built-in prompts)
/// the scene it came from, rendered for the checker's ceiling.
public struct EvalItem: Codable, Sendable {
    public var task: EvalTask
    public var prompt: String
    public var expect: EvalExpectation
    /// Scene-studio address of the source scene (`nil` for prompts from a file).
    public var seed: UInt64?
    public var index: Int?
    public var split: String?

    public init(task: EvalTask, prompt: String, expect: EvalExpectation, seed: UInt64? = nil, index: Int? = nil, split: String? = nil) {
        self.task = task; self.prompt = prompt; self.expect = expect; self.seed = seed; self.index = index; self.split = split
    }
}

/// Errors in an evaluation's input, named so a user can fix them.
public enum EvalError: Error, CustomStringConvertible, Equatable {
    case badPromptLine(line: Int, reason: String)
    case emptyPromptSet
    case missingExpectation(line: Int, task: String, field: String)

    public var description: String {
        switch self {
        case let .badPromptLine(line, reason): "prompts file line \(line): \(reason)"
        case .emptyPromptSet: "the prompt set is empty"
        case let .missingExpectation(line, task, field): "prompts file line \(line): a '\(task)' prompt needs expect.\(field)"
        }
    }
}

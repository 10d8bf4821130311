import Foundation
import LumenPipelines
import LumenSchedulers

/// The settings of one generation as a user states them: what the CLI's flags, the API's fields
/// and the Image Creator's form all turn into, what is stored with each picture, and what "reuse
/// these settings" gives back.
public struct GenerationSettings: Sendable, Codable, Equatable {
    public var model: String
    /// The prompt as typed.
    public var prompt: String
    /// The prompt after the style preset's template (what the text encoder reads).
    public var revisedPrompt: String
    public var negativePrompt: String
    public var style: String?
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Float
    public var seed: UInt64
    public var count: Int
    /// nil: the model's own sampler.
    public var scheduler: String?
    public var clipSkip: Int

    public init(model: String, prompt: String, revisedPrompt: String? = nil, negativePrompt: String = "", style: String? = nil,
                width: Int, height: Int, steps: Int, guidance: Float, seed: UInt64, count: Int = 1,
                scheduler: String? = nil, clipSkip: Int = 0) {
        self.model = model; self.prompt = prompt; self.revisedPrompt = revisedPrompt ?? prompt
        self.negativePrompt = negativePrompt; self.style = style
        self.width = width; self.height = height; self.steps = steps; self.guidance = guidance
        self.seed = seed; self.count = count; self.scheduler = scheduler; self.clipSkip = clipSkip
    }

    enum CodingKeys: String, CodingKey {
        case model, prompt, revisedPrompt = "revised_prompt", negativePrompt = "negative_prompt", style, width, height
        case steps, guidance, seed, count = "n", scheduler, clipSkip = "clip_skip"
    }

    /// The engine request for these settings.
    public func request() throws -> GenerationRequest {
        var r = GenerationRequest(prompt: revisedPrompt)
        r.negativePrompt = negativePrompt
        r.width = width
        r.height = height
        r.steps = steps
        r.guidanceScale = guidance
        r.seed = seed
        r.imageCount = count
        r.clipSkip = clipSkip
        if let scheduler {
            guard let kind = SchedulerKind(rawValue: scheduler) else {
                throw PipelineError.invalidRequest(field: "scheduler", reason: "unknown sampler '\(scheduler)'; use one of \(SchedulerKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            r.scheduler = kind
        }
        return r
    }

    /// The A1111-style `parameters` text that PNG readers and other UIs understand.
    public func parametersText(samplerName: String, modelName: String? = nil) -> String {
        var s = revisedPrompt
        if !negativePrompt.isEmpty { s += "\nNegative prompt: \(negativePrompt)" }
        s += "\nSteps: \(steps), Sampler: \(samplerName), CFG scale: \(Self.format(guidance)), Seed: \(seed), Size: \(width)x\(height)"
        if let modelName { s += ", Model: \(modelName)" }
        if clipSkip > 0 { s += ", Clip skip: \(clipSkip + 1)" }
        s += ", Version: \(LumenVersion.generator)"
        return s
    }

    static func format(_ v: Float) -> String { v == v.rounded() ? String(format: "%.1f", v) : String(v) }
}

import Foundation
import LumenSchedulers
import LumenService

/// The body of `POST /v1/images/generations` (OpenAI's Images API), plus Lumen's own fields
/// (`seed`, `steps`, `guidance`, `negative_prompt`, `scheduler`), checked field by field so that a
/// bad value is refused with a 400 naming its `param`.
struct ImagesRequest: Sendable {
    static let maxPromptLength = 32_000
    static let openAIFields: Set<String> = [
        "model", "prompt", "n", "size", "quality", "style", "response_format", "output_format", "output_compression",
        "background", "stream", "partial_images", "user", "moderation", "safety_identifier",
    ]
    static let lumenFields: Set<String> = ["seed", "steps", "guidance", "negative_prompt", "scheduler", "visible_mark"]

    var model: String?
    var prompt: String
    var n = 1
    var size = "auto"
    var quality = "auto"
    var style: String?
    var responseFormat = "b64_json"
    var outputFormat = ImageFormat.png
    var outputCompression: Int?
    var background = "auto"
    var stream = false
    var partialImages = 0
    var user: String?
    var seed: UInt64?
    var steps: Int?
    var guidance: Float?
    var negativePrompt = ""
    var scheduler: String?
    /// nil: the server's default.
    var visibleMark: Bool?

    /// Parses and checks a JSON body.
    static func parse(_ body: Data) throws -> ImagesRequest {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            throw APIError.invalid(nil, "We could not parse the JSON body of your request. Send a JSON object with at least a 'prompt'.", code: "invalid_json")
        }
        guard case var .object(j) = value else {
            throw APIError.invalid(nil, "The request body must be a JSON object, not \(value.typeName).", code: "invalid_json")
        }
        j = j.filter { $0.value != .null }
        for key in j.keys.sorted() where !openAIFields.contains(key) && !lumenFields.contains(key) {
            throw APIError.invalid(key, "Unknown parameter: '\(key)'.", code: "unknown_parameter")
        }
        guard let prompt = j["prompt"] else { throw APIError.invalid("prompt", "Missing required parameter: 'prompt'.", code: "missing_required_parameter") }
        var r = ImagesRequest(prompt: try string(prompt, "prompt", max: maxPromptLength))
        guard !r.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.invalid("prompt", "'prompt' must not be empty.")
        }
        if let v = j["model"] { r.model = try string(v, "model", max: 256) }
        if let v = j["n"] { r.n = try integer(v, "n", 1...10) }
        if let v = j["size"] { r.size = try string(v, "size", max: 32) }
        if let v = j["quality"] { r.quality = try choice(v, "quality", ["low", "medium", "high", "auto", "standard", "hd"]) }
        if let v = j["style"] { r.style = try choice(v, "style", StylePreset.all.map(\.id)) }
        if let v = j["response_format"] { r.responseFormat = try choice(v, "response_format", ["b64_json", "url"]) }
        if let v = j["output_format"] {
            r.outputFormat = ImageFormat(rawValue: try choice(v, "output_format", ImageFormat.allCases.map(\.rawValue))) ?? .png
        }
        if let v = j["output_compression"] { r.outputCompression = try integer(v, "output_compression", 0...100) }
        if let v = j["background"] {
            r.background = try choice(v, "background", ["transparent", "opaque", "auto"])
            if r.background == "transparent" {
                throw APIError.invalid("background", "Transparent backgrounds are not supported by Lumen's models; use 'opaque' or 'auto'.", code: "unsupported_value")
            }
        }
        if let v = j["stream"] {
            guard case let .bool(b) = v else { throw APIError.invalid("stream", "'stream' must be true or false, not \(v.typeName).") }
            r.stream = b
        }
        if let v = j["partial_images"] { r.partialImages = try integer(v, "partial_images", 0...3) }
        if let v = j["moderation"] { _ = try choice(v, "moderation", ["auto", "low"]) }
        if let v = j["user"] { r.user = try string(v, "user", max: 256) }
        if let v = j["safety_identifier"], r.user == nil { r.user = try string(v, "safety_identifier", max: 256) }
        if let v = j["seed"] { r.seed = UInt64(try integer(v, "seed", 0...Int(UInt32.max))) }
        if let v = j["steps"] { r.steps = try integer(v, "steps", 1...150) }
        if let v = j["guidance"] {
            let d: Double
            switch v {
            case let .int(i): d = Double(i)
            case let .double(x): d = x
            default: throw APIError.invalid("guidance", "'guidance' must be a number between 0 and 30, not \(v.typeName).")
            }
            guard d.isFinite, d >= 0, d <= 30 else { throw APIError.invalid("guidance", "'guidance' is \(d); it must be between 0 and 30.") }
            r.guidance = Float(d)
        }
        if let v = j["negative_prompt"] { r.negativePrompt = try string(v, "negative_prompt", max: maxPromptLength) }
        if let v = j["visible_mark"] {
            guard case let .bool(b) = v else { throw APIError.invalid("visible_mark", "'visible_mark' must be true or false, not \(v.typeName).") }
            r.visibleMark = b
        }
        if let v = j["scheduler"] { r.scheduler = try choice(v, "scheduler", SchedulerKind.allCases.map(\.rawValue)) }
        return r
    }

    init(prompt: String) { self.prompt = prompt }

    /// The settings to run on `model`: size checked against the model's sizes, quality mapped to steps.
    func settings(for model: ModelInfo) throws -> GenerationSettings {
        let (width, height) = try Self.size(size, allowed: model.sizes, native: (model.defaultWidth, model.defaultHeight))
        let base = model.defaultSteps
        let steps = self.steps ?? {
            switch quality {
            case "low": max(1, base / 2)
            case "high", "hd": min(150, base * 2)
            default: base
            }
        }()
        let revised = style.flatMap(StylePreset.named)?.apply(to: prompt)
        return GenerationSettings(
            model: model.id, prompt: prompt, revisedPrompt: revised, negativePrompt: negativePrompt, style: style,
            width: width, height: height, steps: steps, guidance: guidance ?? model.defaultGuidance,
            seed: seed ?? UInt64.random(in: 0..<(1 << 32)), count: n, scheduler: scheduler)
    }

    /// "auto" → the native size; "WxH" must be one of the model's sizes.
    static func size(_ s: String, allowed: [String], native: (Int, Int)) throws -> (Int, Int) {
        if s == "auto" { return native }
        let parts = s.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else {
            throw APIError.invalid("size", "'\(s)' is not a size; use 'WIDTHxHEIGHT' (one of \(allowed.joined(separator: ", "))) or 'auto'.", code: "invalid_size")
        }
        guard allowed.contains("\(w)x\(h)") else {
            throw APIError.invalid("size", "\(w)x\(h) is not offered by this model; use one of \(allowed.joined(separator: ", ")) or 'auto'.", code: "invalid_size")
        }
        return (w, h)
    }

    static func string(_ v: JSONValue, _ param: String, max: Int) throws -> String {
        guard case let .string(s) = v else { throw APIError.invalid(param, "'\(param)' must be a string, not \(v.typeName).") }
        guard s.count <= max else {
            throw APIError.invalid(param, "'\(param)' is too long: \(s.count) characters, at most \(max).", code: "string_above_max_length")
        }
        return s
    }

    static func integer(_ v: JSONValue, _ param: String, _ range: ClosedRange<Int>) throws -> Int {
        let i: Int64
        switch v {
        case let .int(x): i = x
        case let .double(d) where d == d.rounded() && abs(d) < 1e15: i = Int64(d)
        default: throw APIError.invalid(param, "'\(param)' must be an integer between \(range.lowerBound) and \(range.upperBound), not \(v.typeName).")
        }
        guard i >= Int64(range.lowerBound), i <= Int64(range.upperBound) else {
            throw APIError.invalid(param, "'\(param)' is \(i); it must be between \(range.lowerBound) and \(range.upperBound).", code: "integer_out_of_range")
        }
        return Int(i)
    }

    static func choice(_ v: JSONValue, _ param: String, _ options: [String]) throws -> String {
        guard case let .string(s) = v, options.contains(s) else {
            throw APIError.invalid(param, "'\(param)' must be one of \(options.map { "'\($0)'" }.joined(separator: ", ")).", code: "invalid_value")
        }
        return s
    }
}

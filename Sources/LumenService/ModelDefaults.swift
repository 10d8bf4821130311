import Foundation

/// Recommended settings a model folder may carry in `lumen_defaults.json`:
/// `{"steps": 8, "guidance": 4.0, "sizes": ["32x32", "48x32"]}`. Every field is optional.
public struct ModelDefaults: Sendable, Equatable {
    public var steps: Int?
    public var guidance: Float?
    /// Sizes the model is known to work at, "WIDTHxHEIGHT".
    public var sizes: [String]?

    public init(steps: Int? = nil, guidance: Float? = nil, sizes: [String]? = nil) {
        self.steps = steps; self.guidance = guidance; self.sizes = sizes
    }

    /// Reads `path/lumen_defaults.json`; a missing or unreadable file means no recommendations.
    public init(modelPath path: String) {
        guard let data = FileManager.default.contents(atPath: path + "/lumen_defaults.json"),
              let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        steps = dict["steps"] as? Int
        guidance = (dict["guidance"] as? Double).map(Float.init)
        sizes = dict["sizes"] as? [String]
    }
}

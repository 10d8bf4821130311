/// Style presets of the Image Creator and the API's `style` field: prompt templates. The phrases
/// are the ones the scene studio's captions use (`LumenScenes.Style`), so our own model knows them;
/// other models read them as ordinary prompt words.
public struct StylePreset: Sendable, Equatable, Codable {
    public var id: String
    public var label: String
    /// `{prompt}` is replaced by the user's prompt.
    public var template: String

    public func apply(to prompt: String) -> String {
        template.replacingOccurrences(of: "{prompt}", with: prompt)
    }

    public static let all: [StylePreset] = [
        StylePreset(id: "none", label: "No style", template: "{prompt}"),
        StylePreset(id: "photo", label: "Photo", template: "a photo of {prompt}"),
        StylePreset(id: "cinematic", label: "Cinematic", template: "a cinematic photo of {prompt}, dramatic light"),
        StylePreset(id: "concept-art", label: "Concept art", template: "concept art of {prompt}"),
        StylePreset(id: "watercolor", label: "Watercolor", template: "a watercolor painting of {prompt}"),
        StylePreset(id: "pixel-art", label: "Pixel art", template: "pixel art of {prompt}"),
        StylePreset(id: "pencil-sketch", label: "Pencil sketch", template: "a pencil sketch of {prompt}"),
        // OpenAI's DALL·E 3 values, accepted so existing clients work: "natural" leaves the prompt
        // alone, "vivid" asks for saturated, dramatic light.
        StylePreset(id: "natural", label: "Natural", template: "{prompt}"),
        StylePreset(id: "vivid", label: "Vivid", template: "{prompt}, vivid colors, dramatic light"),
    ]

    public static func named(_ id: String) -> StylePreset? { all.first { $0.id == id } }
}

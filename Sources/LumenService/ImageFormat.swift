import Foundation

/// The file formats Lumen writes.
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case png, jpeg, webp

    /// The format a file name asks for (`.jpg`/`.jpeg` → JPEG, `.webp` → WebP, anything else PNG).
    public init(path: String) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "jpg", "jpeg": self = .jpeg
        case "webp": self = .webp
        default: self = .png
        }
    }

    public var fileExtension: String { rawValue }
    public var mimeType: String { "image/\(rawValue)" }
}

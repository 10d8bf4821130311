import Foundation

/// Reads a PNG's chunk list (PNG spec §5.3) to find text and metadata chunks; validates lengths
/// so a malformed file gives an error, never an out-of-bounds read.
public enum PNGChunks {
    public struct Chunk: Sendable {
        public var type: String
        public var data: Data
        /// Byte range of the whole chunk (length, type, data, CRC) in the file.
        public var range: Range<Int>
    }

    public enum ReadError: Error, CustomStringConvertible {
        case notPNG, truncated(at: Int)
        public var description: String {
            switch self {
            case .notPNG: "not a PNG file (bad signature)"
            case let .truncated(at): "PNG chunk at byte \(at) runs past the end of the file"
            }
        }
    }

    static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]

    public static func read(_ data: Data) throws -> [Chunk] {
        let bytes = [UInt8](data)
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { throw ReadError.notPNG }
        var chunks: [Chunk] = []
        var i = 8
        while i + 12 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 0, i + 12 + length <= bytes.count else { throw ReadError.truncated(at: i) }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            chunks.append(Chunk(type: type, data: Data(bytes[(i + 8)..<(i + 8 + length)]), range: i..<(i + 12 + length)))
            i += 12 + length
            if type == "IEND" { return chunks }
        }
        throw ReadError.truncated(at: i)
    }

    /// Text chunks (`tEXt` Latin-1, uncompressed `iTXt` UTF-8) as keyword → text.
    public static func texts(_ chunks: [Chunk]) -> [String: String] {
        var out: [String: String] = [:]
        for c in chunks {
            let b = [UInt8](c.data)
            guard let nul = b.firstIndex(of: 0) else { continue }
            let key = String(decoding: b[..<nul], as: UTF8.self)
            if c.type == "tEXt" {
                out[key] = String(b[(nul + 1)...].map { Character(Unicode.Scalar($0)) })
            } else if c.type == "iTXt", nul + 2 < b.count, b[nul + 1] == 0 {
                // compression flag 0, method, language\0, translated keyword\0, text
                var j = nul + 3
                for _ in 0..<2 {
                    guard let z = b[j...].firstIndex(of: 0) else { j = b.count; break }
                    j = z + 1
                }
                if j <= b.count { out[key] = String(decoding: b[j...], as: UTF8.self) }
            }
        }
        return out
    }
}

import CWebP
import Foundation

/// WebP through libwebp, plus the small RIFF container work libwebp's simple API leaves out:
/// metadata needs the extended format (a `VP8X` chunk whose flags announce an `XMP ` chunk), as
/// described in Google's "WebP Container Specification" (Extended File Format). libwebp's `WebPMux`
/// would do it too, but Debian ships libwebpmux without the pkg-config hook this build uses, and the
/// container is three fixed-layout chunks.
public enum WebPCodec {
    /// Encodes RGB bytes; `quality` 1–100 gives lossy VP8, `nil` lossless VP8L.
    public static func encode(width: Int, height: Int, rgb: [UInt8], quality: Int? = 90, xmp: String? = nil) throws -> Data {
        guard width > 0, height > 0, width <= 16383, height <= 16383, rgb.count == width * height * 3 else {
            throw ImageEncodingError.invalidImage("WebP needs 1–16383 pixels per side and width × height × 3 bytes")
        }
        var output: UnsafeMutablePointer<UInt8>?
        let size = rgb.withUnsafeBufferPointer { buf -> Int in
            if let quality {
                return WebPEncodeRGB(buf.baseAddress, Int32(width), Int32(height), Int32(width * 3), Float(quality), &output)
            }
            return WebPEncodeLosslessRGB(buf.baseAddress, Int32(width), Int32(height), Int32(width * 3), &output)
        }
        guard size > 0, let output else { throw ImageEncodingError.encoderFailed("libwebp could not encode the picture") }
        defer { WebPFree(output) }
        let simple = Data(bytes: output, count: size)
        guard let xmp else { return simple }
        return try addXMP(simple, xmp: xmp, width: width, height: height)
    }

    /// Rewrites a simple-format WebP (`RIFF…WEBP` + one `VP8 `/`VP8L` chunk) into the extended format
    /// with an `XMP ` chunk after the image data.
    static func addXMP(_ simple: Data, xmp: String, width: Int, height: Int) throws -> Data {
        let bytes = [UInt8](simple)
        guard bytes.count >= 20, Array(bytes[0..<4]) == Array("RIFF".utf8), Array(bytes[8..<12]) == Array("WEBP".utf8) else {
            throw ImageEncodingError.encoderFailed("libwebp returned something that is not a WebP file")
        }
        let imageChunk = Array(bytes[12...])
        var vp8x = [UInt8](repeating: 0, count: 10)
        vp8x[0] = 0x04  // XMP metadata present
        for (i, v) in [(4, width - 1), (7, height - 1)] {
            vp8x[i] = UInt8(v & 0xFF); vp8x[i + 1] = UInt8((v >> 8) & 0xFF); vp8x[i + 2] = UInt8((v >> 16) & 0xFF)
        }
        var body = Array("WEBP".utf8)
        body += chunk("VP8X", vp8x)
        body += imageChunk
        body += chunk("XMP ", Array(xmp.utf8))
        return Data(Array("RIFF".utf8) + le32(body.count) + body)
    }

    static func chunk(_ fourCC: String, _ payload: [UInt8]) -> [UInt8] {
        var out = Array(fourCC.utf8) + le32(payload.count) + payload
        if payload.count % 2 == 1 { out.append(0) }  // chunks are padded to an even size
        return out
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// Decodes to RGB bytes.
    public static func decodeRGB(_ data: Data) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        var w: Int32 = 0, h: Int32 = 0
        let bytes = [UInt8](data)
        guard let out = bytes.withUnsafeBufferPointer({ WebPDecodeRGB($0.baseAddress, $0.count, &w, &h) }) else {
            throw ImageEncodingError.invalidImage("not a readable WebP file")
        }
        defer { WebPFree(out) }
        return (Int(w), Int(h), Array(UnsafeBufferPointer(start: out, count: Int(w) * Int(h) * 3)))
    }

    /// The XMP packet of an extended-format WebP, if any.
    public static func xmp(_ data: Data) -> String? {
        let b = [UInt8](data)
        guard b.count >= 12, Array(b[8..<12]) == Array("WEBP".utf8) else { return nil }
        var i = 12
        while i + 8 <= b.count {
            let type = String(decoding: b[i..<i + 4], as: UTF8.self)
            let size = Int(b[i + 4]) | Int(b[i + 5]) << 8 | Int(b[i + 6]) << 16 | Int(b[i + 7]) << 24
            guard size >= 0, i + 8 + size <= b.count else { return nil }
            if type == "XMP " { return String(decoding: b[i + 8..<i + 8 + size], as: UTF8.self) }
            i += 8 + size + (size % 2)
        }
        return nil
    }
}

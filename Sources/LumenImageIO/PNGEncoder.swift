import CPNG
import Foundation

/// A failure to encode an image.
public enum ImageEncodingError: Error, CustomStringConvertible {
    case invalidImage(String)
    case encoderFailed(String)

    public var description: String {
        switch self {
        case let .invalidImage(s): "cannot encode image: \(s)"
        case let .encoderFailed(s): "image encoder failed: \(s)"
        }
    }
}

/// PNG encoding through libpng's simplified API (`png_image_write_to_memory`), which reports
/// errors by return code instead of `longjmp` (unsafe across Swift frames).
///
/// The simplified API cannot write text chunks, so metadata chunks (`tEXt`, or `iTXt` for
/// non-Latin-1 text) are spliced in after `IHDR` by hand: a chunk is length, type, data and a
/// CRC-32 from zlib (PNG spec §5.3, §11.3.4).
public enum PNGEncoder {
    /// Encodes 8-bit gray (`channels` = 1), RGB (3) or RGBA (4) pixels, adding `text` chunks (keyword → value).
    public static func encode(width: Int, height: Int, pixels: [UInt8], channels: Int = 3,
                              text: [(String, String)] = []) throws -> Data {
        guard width > 0, height > 0, [1, 3, 4].contains(channels), pixels.count == width * height * channels else {
            throw ImageEncodingError.invalidImage("\(width)×\(height)×\(channels) does not match \(pixels.count) bytes")
        }
        var image = png_image()
        image.version = lumen_png_image_version
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 4 ? lumen_png_format_rgba : channels == 3 ? lumen_png_format_rgb : lumen_png_format_gray
        var size: png_alloc_size_t = 0
        let stride = Int32(width * channels)
        let ok = pixels.withUnsafeBufferPointer { px in
            png_image_write_to_memory(&image, nil, &size, 0, px.baseAddress, stride, nil)
        }
        guard ok != 0, size > 0 else { throw ImageEncodingError.encoderFailed(errorMessage(&image)) }
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let written = buffer.withUnsafeMutableBytes { raw in
            pixels.withUnsafeBufferPointer { px in
                png_image_write_to_memory(&image, raw.baseAddress, &size, 0, px.baseAddress, stride, nil)
            }
        }
        guard written != 0 else { throw ImageEncodingError.encoderFailed(errorMessage(&image)) }
        png_image_free(&image)
        var png = Data(buffer.prefix(Int(size)))
        if !text.isEmpty {
            // Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC) = 33 bytes.
            let chunks = text.reduce(into: Data()) { $0.append(textChunk(keyword: $1.0, value: $1.1)) }
            png.insert(contentsOf: chunks, at: 33)
        }
        return png
    }

    static func errorMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A `tEXt` chunk when the value is Latin-1 printable, else an uncompressed UTF-8 `iTXt` chunk.
    public static func textChunk(keyword: String, value: String) -> Data {
        let key = Array(keyword.utf8.prefix(79))
        if value.unicodeScalars.allSatisfy({ $0.value < 256 && $0.value != 0 }) {
            var data = Data(key)
            data.append(0)
            data.append(contentsOf: value.unicodeScalars.map { UInt8($0.value) })
            return chunk(type: "tEXt", data: data)
        }
        var data = Data(key)
        data.append(contentsOf: [0, 0, 0, 0, 0])  // null, compression flag, method, empty language, empty translated keyword
        data.append(contentsOf: Array(value.utf8))
        return chunk(type: "iTXt", data: data)
    }

    /// One PNG chunk with its CRC-32 over type and data.
    public static func chunk(type: String, data: Data) -> Data {
        var out = Data()
        var length = UInt32(data.count).bigEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        let typeAndData = Data(type.utf8) + data
        out.append(typeAndData)
        let crc = typeAndData.withUnsafeBytes { raw in
            UInt32(crc32(0, raw.bindMemory(to: UInt8.self).baseAddress, uInt(raw.count)))
        }
        var crcBE = crc.bigEndian
        withUnsafeBytes(of: &crcBE) { out.append(contentsOf: $0) }
        return out
    }
}

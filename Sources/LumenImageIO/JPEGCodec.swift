import CTurboJPEG
import Foundation

/// JPEG through TurboJPEG's C API (`tjCompress2` / `tjDecompress2`), which reports errors by
/// return code (libjpeg's own error path longjmps, unsafe across Swift frames).
///
/// Chroma is kept at full resolution (4:4:4): the invisible watermark lives in the U channel and
/// does not survive 4:2:0 subsampling. Metadata (XMP) goes in an APP1 segment spliced after SOI.
public enum JPEGCodec {
    /// `comment` goes in a COM segment (Lumen writes the A1111 `parameters` text there).
    public static func encode(width: Int, height: Int, rgb: [UInt8], quality: Int = 90, xmp: String? = nil, comment: String? = nil) throws -> Data {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw ImageEncodingError.invalidImage("\(width)×\(height) does not match \(rgb.count) bytes")
        }
        guard (1...100).contains(quality) else { throw ImageEncodingError.invalidImage("JPEG quality \(quality) must be 1–100") }
        guard let handle = tjInitCompress() else { throw ImageEncodingError.encoderFailed("tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = rgb.withUnsafeBufferPointer { px in
            tjCompress2(handle, px.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_444.rawValue), Int32(quality), 0)
        }
        defer { if buffer != nil { tjFree(buffer) } }
        guard status == 0, let buffer else {
            throw ImageEncodingError.encoderFailed(String(cString: tjGetErrorStr2(handle)))
        }
        var jpeg = Data(bytes: buffer, count: Int(size))
        if let comment {
            let payload = Data(comment.utf8.prefix(65000))
            var segment = Data([0xFF, 0xFE, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)])
            segment.append(payload)
            jpeg.insert(contentsOf: segment, at: 2)
        }
        if let xmp {
            // APP1 "http://ns.adobe.com/xap/1.0/\0" + packet (XMP Specification Part 3, §1.1.3).
            var payload = Data("http://ns.adobe.com/xap/1.0/".utf8)
            payload.append(0)
            payload.append(Data(xmp.utf8))
            guard payload.count + 2 <= 65535 else { throw ImageEncodingError.invalidImage("XMP packet too large for one APP1 segment") }
            var segment = Data([0xFF, 0xE1, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)])
            segment.append(payload)
            jpeg.insert(contentsOf: segment, at: 2)
        }
        return jpeg
    }

    public static func decodeRGB(_ data: Data) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        guard let handle = tjInitDecompress() else { throw ImageEncodingError.invalidImage("tjInitDecompress failed") }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBytes { raw in
            tjDecompressHeader3(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), &w, &h, &subsampling, &colorspace)
        }
        guard header == 0, w > 0, h > 0, w <= 16384, h <= 16384 else {
            throw ImageEncodingError.invalidImage("not a readable JPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        var pixels = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
        let status = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), out.baseAddress,
                              w, 0, h, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        guard status == 0 else { throw ImageEncodingError.invalidImage("JPEG decoding failed: \(String(cString: tjGetErrorStr2(handle)))") }
        return (Int(w), Int(h), pixels)
    }

    /// The text of the first COM segment, if any.
    public static func comment(_ data: Data) -> String? { segment(data, type: 0xFE, prefix: []) }

    /// The XMP packet of a JPEG's APP1 segment, if any.
    public static func xmp(_ data: Data) -> String? { segment(data, type: 0xE1, prefix: Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]) }

    /// The payload (after `prefix`) of the first marker segment of `type` before the image data.
    static func segment(_ data: Data, type wanted: UInt8, prefix marker: [UInt8]) -> String? {
        let b = [UInt8](data)
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let type = b[i + 1]
            if type == 0xDA || type == 0xD9 { break }  // start of scan / end of image
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= b.count else { break }
            if type == wanted && length - 2 >= marker.count && Array(b[(i + 4)..<(i + 4 + marker.count)]) == marker {
                return String(decoding: b[(i + 4 + marker.count)..<(i + 2 + length)], as: UTF8.self)
            }
            i += 2 + length
        }
        return nil
    }
}

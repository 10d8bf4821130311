import CPNG
import Foundation

/// PNG decoding to 8-bit RGB through libpng's simplified read API (error codes, no longjmp).
public enum PNGDecoder {
    public static func decodeRGB(_ data: Data) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        var image = png_image()
        image.version = lumen_png_image_version
        let ok = data.withUnsafeBytes { raw in png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) }
        guard ok != 0 else { throw ImageEncodingError.invalidImage("not a readable PNG: \(PNGEncoder.errorMessage(&image))") }
        image.format = lumen_png_format_rgb
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w <= 16384, h <= 16384 else {
            png_image_free(&image)
            throw ImageEncodingError.invalidImage("PNG of \(w)×\(h) is outside the supported size")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let done = data.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { out in png_image_finish_read(&image, nil, out.baseAddress, Int32(w * 3), nil) }
        }
        guard done != 0 else { throw ImageEncodingError.invalidImage("PNG decoding failed: \(PNGEncoder.errorMessage(&image))") }
        return (w, h, pixels)
    }
}

import Foundation
import LumenImageIO
import LumenPipelines
import LumenProvenance

/// The marks every picture Lumen writes carries: XMP with the IPTC digital source type
/// (`trainedAlgorithmicMedia`), the invisible dwtDct watermark (pictures ≥ 256×256, the smallest
/// the reference decoder reads), and the A1111 `parameters` chunk. C2PA signing is still to come.
enum ProvenanceMarks {
    enum Format: String { case png, jpeg }

    /// The output format a file name asks for (`.jpg`/`.jpeg` → JPEG, anything else PNG).
    static func format(for path: String) -> Format {
        ["jpg", "jpeg"].contains(URL(fileURLWithPath: path).pathExtension.lowercased()) ? .jpeg : .png
    }

    static func encode(_ image: RGBImage, parameters: String, format: Format, quality: Int) throws -> Data {
        let (pixels, xmp) = marked(image)
        switch format {
        case .png:
            return try PNGEncoder.encode(width: image.width, height: image.height, pixels: pixels,
                                         text: [(XMP.pngKeyword, xmp), ("parameters", parameters), ("Software", "Lumen \(Lumen.version)")])
        case .jpeg:
            return try JPEGCodec.encode(width: image.width, height: image.height, rgb: pixels, quality: quality, xmp: xmp, comment: parameters)
        }
    }

    /// Watermarked pixels (≥ 256×256) and the XMP packet for one picture.
    static func marked(_ image: RGBImage) -> ([UInt8], String) {
        let instance = UUID()
        var pixels = image.pixels
        if image.width >= DwtDctWatermark.minimumSize && image.height >= DwtDctWatermark.minimumSize {
            let id = withUnsafeBytes(of: instance.uuid) { $0.load(as: UInt32.self) }
            pixels = DwtDctWatermark.embed(rgb: pixels, width: image.width, height: image.height,
                                           bits: WatermarkPayload(pictureID: id).bits)
        }
        let xmp = XMP.packet(instanceID: "xmp:iid:\(instance.uuidString.lowercased())", creatorTool: "Lumen \(Lumen.version)")
        return (pixels, xmp)
    }
}

import Foundation
import LumenImageIO
import LumenPipelines
import LumenProvenance

/// The marks every picture Lumen writes carries: XMP with the IPTC digital source type
/// (`trainedAlgorithmicMedia`), the invisible dwtDct watermark (pictures ≥ 256×256, the smallest
/// the reference decoder reads), and the A1111 `parameters` chunk. C2PA signing is still to come.
enum ProvenanceMarks {
    static func png(_ image: RGBImage, parameters: String) throws -> Data {
        let instance = UUID()
        var pixels = image.pixels
        if image.width >= DwtDctWatermark.minimumSize && image.height >= DwtDctWatermark.minimumSize {
            let id = withUnsafeBytes(of: instance.uuid) { $0.load(as: UInt32.self) }
            pixels = DwtDctWatermark.embed(rgb: pixels, width: image.width, height: image.height,
                                           bits: WatermarkPayload(pictureID: id).bits)
        }
        let xmp = XMP.packet(instanceID: "xmp:iid:\(instance.uuidString.lowercased())", creatorTool: "Lumen \(Lumen.version)")
        return try PNGEncoder.encode(width: image.width, height: image.height, pixels: pixels,
                                     text: [(XMP.pngKeyword, xmp), ("parameters", parameters), ("Software", "Lumen \(Lumen.version)")])
    }
}

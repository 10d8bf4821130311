import Foundation
import LumenImageIO
import LumenPipelines
import LumenProvenance

/// Encodes a generated picture with the marks every picture Lumen writes carries: XMP with the
/// IPTC digital source type (`trainedAlgorithmicMedia`), the invisible dwtDct watermark (pictures
/// ≥ 256×256, the smallest the reference decoder reads), the A1111 `parameters` text, and — last,
/// over the finished bytes — a signed C2PA manifest (PNG `caBX`, JPEG APP11, WebP `C2PA` chunk).
public enum PictureWriter {
    /// Who signs, and what the manifest may say about the model.
    public struct Signing: Sendable {
        public var identity: SigningIdentity
        /// nil hides the model's name (arena battles before the vote).
        public var model: String?

        public init(identity: SigningIdentity, model: String?) { self.identity = identity; self.model = model }
    }

    /// One encoded picture and the identifiers its marks carry.
    public struct Encoded: Sendable {
        public var data: Data
        /// The XMP `xmpMM:InstanceID` (a UUID).
        public var instanceID: String
        /// The 32-bit picture id in the watermark payload (nil when the picture is too small to carry one).
        public var watermarkID: UInt32?
    }

    /// - Parameters:
    ///   - parameters: the A1111-style settings text (`nil` to leave it out, as the arena does before a vote).
    ///   - quality: JPEG/WebP quality 1–100 (PNG is lossless).
    public static func encode(_ image: RGBImage, format: ImageFormat, parameters: String?, quality: Int = 90,
                              signing: Signing?) throws -> Encoded {
        let instance = UUID()
        var pixels = image.pixels
        var watermarkID: UInt32?
        if image.width >= DwtDctWatermark.minimumSize && image.height >= DwtDctWatermark.minimumSize {
            let id = withUnsafeBytes(of: instance.uuid) { $0.load(as: UInt32.self) }
            // Marked through what a reader will decode, so lossy formats keep every bit.
            let (w, h) = (image.width, image.height)
            let channel: DwtDctWatermark.Channel?
            switch format {
            case .png: channel = nil
            case .jpeg: channel = { try JPEGCodec.decodeRGB(JPEGCodec.encode(width: w, height: h, rgb: $0, quality: quality)).pixels }
            case .webp: channel = { try WebPCodec.decodeRGB(WebPCodec.encode(width: w, height: h, rgb: $0, quality: quality)).pixels }
            }
            pixels = try DwtDctWatermark.embed(rgb: pixels, width: w, height: h, bits: WatermarkPayload(pictureID: id).bits, through: channel)
            watermarkID = id
        }
        let instanceID = "xmp:iid:\(instance.uuidString.lowercased())"
        let xmp = XMP.packet(instanceID: instanceID, creatorTool: LumenVersion.generator)
        var data: Data
        switch format {
        case .png:
            var text = [(XMP.pngKeyword, xmp)]
            if let parameters { text.append(("parameters", parameters)) }
            text.append(("Software", LumenVersion.generator))
            data = try PNGEncoder.encode(width: image.width, height: image.height, pixels: pixels, text: text)
        case .jpeg:
            data = try JPEGCodec.encode(width: image.width, height: image.height, rgb: pixels, quality: quality, xmp: xmp, comment: parameters)
        case .webp:
            data = try WebPCodec.encode(width: image.width, height: image.height, rgb: pixels, quality: quality, xmp: xmp)
        }
        if let signing {
            let info = C2PAClaimInfo(instanceID: instanceID, generatorVersion: LumenVersion.string, model: signing.model, title: nil)
            switch format {
            case .png: data = try C2PAEmbedding.signPNG(data, info: info, identity: signing.identity)
            case .jpeg: data = try C2PAEmbedding.signJPEG(data, info: info, identity: signing.identity)
            case .webp: data = try C2PAEmbedding.signWebP(data, info: info, identity: signing.identity)
            }
        }
        return Encoded(data: data, instanceID: instanceID, watermarkID: watermarkID)
    }
}

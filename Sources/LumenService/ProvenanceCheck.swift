import Foundation
import LumenImageIO
import LumenProvenance
import X509

/// Everything `lumen verify` and `POST /v1/verify` say about one file: the C2PA manifest
/// (signature, chain and trust, assertion hashes, hard binding), the XMP digital source type, the
/// invisible watermark, and the A1111 parameters text.
public struct ProvenanceReport: Sendable, Encodable {
    public struct Credentials: Sendable, Encodable {
        /// absent, invalid, valid (signature and binding good, signer not trusted here) or trusted.
        public var state: String
        public var successes: [String]
        public var failures: [String]
        /// What was tampered with, in words.
        public var problems: [String]
        public var digitalSourceType: String?
        public var generator: String?
        public var model: String?
        public var signer: String?
        public var instanceID: String?
        public var timeStamp: String?

        enum CodingKeys: String, CodingKey {
            case state, successes, failures, problems, digitalSourceType = "digital_source_type", generator, model, signer
            case instanceID = "instance_id", timeStamp = "time_stamp"
        }
    }
    public struct XMPInfo: Sendable, Encodable {
        public var digitalSourceType: String?
        public var instanceID: String?
        public var creatorTool: String?
        enum CodingKeys: String, CodingKey { case digitalSourceType = "digital_source_type", instanceID = "instance_id", creatorTool = "creator_tool" }
    }
    public struct Watermark: Sendable, Encodable {
        public var present: Bool
        public var generator: String?
        public var pictureID: String?
        public var confidence: Double?
        public var reason: String?
        enum CodingKeys: String, CodingKey { case present, generator, pictureID = "picture_id", confidence, reason }
    }

    public var format: String
    public var width: Int
    public var height: Int
    public var aiGenerated: Bool
    public var c2pa: Credentials
    public var xmp: XMPInfo?
    public var watermark: Watermark
    public var parameters: String?

    enum CodingKeys: String, CodingKey { case format, width, height, aiGenerated = "ai_generated", c2pa, xmp, watermark, parameters }
}

public enum ProvenanceCheck {
    /// Checks one PNG, JPEG or WebP file. Throws only when the file is not a picture at all.
    public static func check(_ data: Data, trustAnchors: [Certificate] = []) throws -> ProvenanceReport {
        let bytes = [UInt8](data)
        let format: ImageFormat
        // A tampered file may no longer decode; its credentials are still checked and reported.
        var image: (width: Int, height: Int, pixels: [UInt8])?
        var xmpPacket: String?, parameters: String?
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            format = .png
            let texts = PNGChunks.texts((try? PNGChunks.read(data)) ?? [])
            xmpPacket = texts[XMP.pngKeyword]
            parameters = texts["parameters"]
            image = try? PNGDecoder.decodeRGB(data)
        } else if bytes.starts(with: [0xFF, 0xD8]) {
            format = .jpeg
            xmpPacket = JPEGCodec.xmp(data)
            parameters = JPEGCodec.comment(data)
            image = try? JPEGCodec.decodeRGB(data)
        } else if bytes.count >= 12, Array(bytes[8..<12]) == Array("WEBP".utf8) {
            format = .webp
            xmpPacket = WebPCodec.xmp(data)
            image = try? WebPCodec.decodeRGB(data)
        } else {
            throw C2PAError.unsupportedFormat("not a PNG, JPEG or WebP file")
        }
        let c = C2PAVerifier.verify(data, trustAnchors: trustAnchors)
        let credentials = ProvenanceReport.Credentials(
            state: c.state.rawValue, successes: c.successes, failures: c.failures,
            problems: c.state == .absent ? ["the file carries no Content Credentials"] : c.problems,
            digitalSourceType: c.digitalSourceType, generator: c.generator, model: c.model, signer: c.signer, instanceID: c.instanceID,
            timeStamp: c.timeStamp)
        let xmp = xmpPacket.map {
            ProvenanceReport.XMPInfo(digitalSourceType: XMP.property("Iptc4xmpExt:DigitalSourceType", in: $0),
                                     instanceID: XMP.property("xmpMM:InstanceID", in: $0), creatorTool: XMP.property("xmp:CreatorTool", in: $0))
        }
        var watermark = ProvenanceReport.Watermark(present: false)
        if image == nil {
            watermark.reason = "the pixels cannot be decoded"
        } else if let image, image.width >= DwtDctWatermark.minimumSize && image.height >= DwtDctWatermark.minimumSize {
            let scores = DwtDctWatermark.decode(rgb: image.pixels, width: image.width, height: image.height, bitCount: WatermarkPayload.bitCount)
            if let payload = WatermarkPayload(bits: scores.map { $0 > 0.5 }) {
                let confidence = scores.map { abs($0 - 0.5) * 2 }.reduce(0, +) / Float(scores.count)
                watermark = .init(present: true, generator: "Lumen", pictureID: String(format: "%08x", payload.pictureID), confidence: Double(confidence))
            } else {
                watermark.reason = "no Lumen watermark found"
            }
        } else {
            watermark.reason = "pictures under 256×256 carry no dwtDct watermark"
        }
        let aiGenerated = xmp?.digitalSourceType == XMP.trainedAlgorithmicMedia || c.digitalSourceType == XMP.trainedAlgorithmicMedia
        return ProvenanceReport(format: format.rawValue, width: image?.width ?? 0, height: image?.height ?? 0, aiGenerated: aiGenerated,
                                c2pa: credentials, xmp: xmp, watermark: watermark, parameters: parameters)
    }

    /// Human-readable lines for a report.
    public static func describe(_ r: ProvenanceReport) -> [String] {
        var lines: [String] = []
        lines.append("  format: \(r.format.uppercased()) \(r.width)×\(r.height)")
        lines.append("  AI-generated: \(r.aiGenerated ? "yes (trainedAlgorithmicMedia)" : "not declared")")
        switch r.c2pa.state {
        case "absent": lines.append("  Content Credentials: none")
        case "trusted": lines.append("  Content Credentials: valid and trusted (signed by \(r.c2pa.signer ?? "?"))")
        case "valid": lines.append("  Content Credentials: valid; signer not in your trust list (\(r.c2pa.signer ?? "?"); add its root with --trust)")
        default:
            lines.append("  Content Credentials: INVALID")
            for p in r.c2pa.problems { lines.append("    - \(p)") }
        }
        if r.c2pa.state != "absent" {
            lines.append("  generator: \(r.c2pa.generator ?? "?")\(r.c2pa.model.map { ", model \($0)" } ?? "")")
            lines.append("  time-stamp: \(r.c2pa.timeStamp ?? "none (validity is judged at verification time)")")
            if !r.c2pa.failures.isEmpty { lines.append("  failure codes: \(r.c2pa.failures.joined(separator: ", "))") }
        }
        if let x = r.xmp { lines.append("  XMP: \(x.creatorTool ?? "?"), \(x.instanceID ?? "?")") } else { lines.append("  XMP: none") }
        if r.watermark.present {
            lines.append("  watermark: \(r.watermark.generator ?? "?"), picture \(r.watermark.pictureID ?? "?"), confidence \(String(format: "%.2f", r.watermark.confidence ?? 0))")
        } else {
            lines.append("  watermark: not found\(r.watermark.reason.map { " (\($0))" } ?? "")")
        }
        return lines
    }
}

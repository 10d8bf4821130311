import Foundation
import LumenImageIO
import LumenProvenance
import Testing

@Suite struct ProvenanceTests {
    /// A textured 320×288 test picture (the watermark needs texture and ≥ 256×256).
    static func picture(width: Int = 320, height: Int = 288) -> [UInt8] {
        return (0..<(width * height)).flatMap { k -> [UInt8] in
            let x = k % width, y = k / width
            let r = UInt8((x * 7 + y * 3) % 200 + 20), g = UInt8((x * y / 11) % 180 + 30), b = UInt8((x * 13 ^ y * 5) % 160 + 40)
            return [r, g, b]
        }
    }

    @Test func watermarkRoundTripsWithNoBitErrors() {
        let payload = WatermarkPayload(pictureID: 0xDEAD_BEEF)
        let original = Self.picture()
        let marked = DwtDctWatermark.embed(rgb: original, width: 320, height: 288, bits: payload.bits)
        let scores = DwtDctWatermark.decode(rgb: marked, width: 320, height: 288, bitCount: 48)
        #expect(WatermarkPayload(bits: scores.map { $0 > 0.5 }) == payload)
        // Imperceptible: PSNR well above 35 dB.
        var sum = 0.0
        for (a, b) in zip(original, marked) {
            let d = Double(Int(a) - Int(b))
            sum += d * d
        }
        let mse: Double = sum / Double(original.count)
        let psnr: Double = 10 * log10(255 * 255 / max(mse, 1e-9))
        #expect(psnr > 35, "PSNR \(psnr)")
        // An unmarked picture does not read as Lumen's.
        let plain = DwtDctWatermark.decode(rgb: original, width: 320, height: 288, bitCount: 48)
        #expect(WatermarkPayload(bits: plain.map { $0 > 0.5 }) == nil)
    }

    @Test func xmpNamesTheDigitalSourceTypeInPNG() throws {
        let xmp = XMP.packet(instanceID: "xmp:iid:1234", creatorTool: "Lumen test")
        let png = try PNGEncoder.encode(width: 2, height: 2, pixels: Array(repeating: 128, count: 12), text: [(XMP.pngKeyword, xmp)])
        let texts = PNGChunks.texts(try PNGChunks.read(png))
        let packet = try #require(texts[XMP.pngKeyword])
        #expect(XMP.property("Iptc4xmpExt:DigitalSourceType", in: packet) == XMP.trainedAlgorithmicMedia)
        #expect(XMP.property("xmpMM:InstanceID", in: packet) == "xmp:iid:1234")
    }

    @Test func malformedPNGIsAnError() throws {
        #expect(throws: PNGChunks.ReadError.self) { try PNGChunks.read(Data([1, 2, 3])) }
        var png = try PNGEncoder.encode(width: 2, height: 2, pixels: Array(repeating: 1, count: 12))
        png = png.prefix(40)
        #expect(throws: PNGChunks.ReadError.self) { try PNGChunks.read(png) }
    }
}

@Suite struct JPEGProvenanceTests {
    @Test func jpegKeepsXMPCommentAndWatermarkAtQuality90() throws {
        let payload = WatermarkPayload(pictureID: 0x0BAD_F00D)
        let marked = DwtDctWatermark.embed(rgb: ProvenanceTests.picture(), width: 320, height: 288, bits: payload.bits)
        let xmp = XMP.packet(instanceID: "xmp:iid:42", creatorTool: "Lumen test")
        let jpeg = try JPEGCodec.encode(width: 320, height: 288, rgb: marked, quality: 90, xmp: xmp, comment: "a prompt\nSteps: 8")
        #expect(JPEGCodec.xmp(jpeg).flatMap { XMP.property("Iptc4xmpExt:DigitalSourceType", in: $0) } == XMP.trainedAlgorithmicMedia)
        #expect(JPEGCodec.comment(jpeg) == "a prompt\nSteps: 8")
        let decoded = try JPEGCodec.decodeRGB(jpeg)
        let scores = DwtDctWatermark.decode(rgb: decoded.pixels, width: decoded.width, height: decoded.height, bitCount: 48)
        #expect(WatermarkPayload(bits: scores.map { $0 > 0.5 }) == payload)
    }

    @Test func malformedJPEGIsAnError() {
        #expect(throws: ImageEncodingError.self) { try JPEGCodec.decodeRGB(Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3])) }
    }
}

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

    /// A 256² picture like a random-weights model's: noise in 2×2 cells with a third of the channel
    /// values pinned at 0 or 255, where open-loop marking lost bits after JPEG q90 (CI, tiny-256).
    static func noisyPicture(seed: UInt64, size: Int = 256) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt8 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let v = Int(state % 384) - 64
            return UInt8(min(max(v, 0), 255))
        }
        var rgb = [UInt8](repeating: 0, count: size * size * 3)
        for cy in 0..<(size / 2) {
            for cx in 0..<(size / 2) {
                let cell = [next(), next(), next()]
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let k = ((2 * cy + dy) * size + 2 * cx + dx) * 3
                    for c in 0..<3 { rgb[k + c] = UInt8(min(max(Int(cell[c]) + Int(next() % 9) - 4, 0), 255)) }
                }
            }
        }
        return rgb
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func watermarkSurvivesJPEGQ90OnSaturatedNoise(seed: UInt64) throws {
        let size = 256
        let payload = WatermarkPayload(pictureID: UInt32(truncatingIfNeeded: seed &* 0x2545_F491))
        let original = Self.noisyPicture(seed: seed)
        let jpeg: DwtDctWatermark.Channel = { try JPEGCodec.decodeRGB(JPEGCodec.encode(width: size, height: size, rgb: $0, quality: 90)).pixels }
        let marked = try DwtDctWatermark.embed(rgb: original, width: size, height: size, bits: payload.bits, through: jpeg)
        let seen = try jpeg(marked)
        let scores = DwtDctWatermark.decode(rgb: seen, width: size, height: size, bitCount: 48)
        #expect(WatermarkPayload(bits: scores.map { $0 > 0.5 }) == payload)
        // Not only the majority: every bit wins its vote by a wide margin, though cells pinned at
        // 0/255 in all three channels cannot move (measured: 3–4 % of blocks read wrong here,
        // all bits ≥ 0.8 of their votes; open-loop marking lost whole bits at q90).
        let errors = DwtDctWatermark.blockErrors(rgb: seen, width: size, height: size, bits: payload.bits)
        #expect(errors.wrong * 100 <= errors.blocks * 6, "\(errors.wrong) of \(errors.blocks) blocks read wrong")
        let agreement = zip(scores, payload.bits).map { $1 ? $0 : 1 - $0 }.min() ?? 0
        #expect(agreement >= 0.7, "worst bit won \(agreement) of its votes")
        // Lossless output reads right with no channel given (the bytes themselves).
        let png = DwtDctWatermark.embed(rgb: original, width: size, height: size, bits: payload.bits)
        let pngScores = DwtDctWatermark.decode(rgb: png, width: size, height: size, bitCount: 48)
        #expect(WatermarkPayload(bits: pngScores.map { $0 > 0.5 }) == payload)
        #expect(DwtDctWatermark.blockErrors(rgb: png, width: size, height: size, bits: payload.bits).wrong * 100 <= errors.blocks * 5)
    }

    @Test func malformedJPEGIsAnError() {
        #expect(throws: ImageEncodingError.self) { try JPEGCodec.decodeRGB(Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3])) }
    }
}

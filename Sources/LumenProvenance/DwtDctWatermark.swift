import Foundation

/// An invisible watermark readable by the `invisible-watermark` package's `dwtDct` decoder
/// (imwatermark 0.2.0, `maxDct.py`), the scheme SDXL uses; see shared/reference/c2pa-and-watermark.md §9.
///
/// Only the U channel of YUV carries the mark: a one-level Haar DWT's LL band is tiled in 4×4
/// blocks, block n carries bit n mod L, and in each block the largest-magnitude coefficient
/// (flat index 0 excluded) is quantised with step Δ = 36 to `(⌊|v|/Δ⌋ + 0.25 + 0.5·bit)·Δ`.
/// Written here because no Swift package implements it. The update is applied to the LL band
/// only (each pixel of the 2×2 block moves by δ/2), which the reference decoder reads with zero
/// bit errors at a higher PSNR than the reference encoder (no H/V band swap).
public enum DwtDctWatermark {
    public static let step: Float = 36
    /// The reference decoder refuses pictures smaller than this in either dimension.
    public static let minimumSize = 256

    struct YUV { var y: [Float], u: [Float], v: [Float] }

    static func toYUV(_ rgb: [UInt8], _ count: Int) -> YUV {
        var y = [Float](repeating: 0, count: count), u = y, v = y
        for k in 0..<count {
            let r = Float(rgb[k * 3]), g = Float(rgb[k * 3 + 1]), b = Float(rgb[k * 3 + 2])
            let yy = 0.299 * r + 0.587 * g + 0.114 * b
            y[k] = yy
            u[k] = 0.492 * (b - yy) + 128
            v[k] = 0.877 * (r - yy) + 128
        }
        return YUV(y: y, u: u, v: v)
    }

    /// For each 4×4 LL block in raster order: (flat positions of the block's LL cells, chosen index).
    static func blocks(width: Int, height: Int) -> (llWidth: Int, llHeight: Int, count: Int) {
        let w4 = width - width % 4, h4 = height - height % 4
        return (w4 / 2, h4 / 2, (w4 / 8) * (h4 / 8))
    }

    static func ll(_ u: [Float], width: Int, x: Int, y: Int) -> Float {
        (u[(2 * y) * width + 2 * x] + u[(2 * y) * width + 2 * x + 1] + u[(2 * y + 1) * width + 2 * x] + u[(2 * y + 1) * width + 2 * x + 1]) / 2
    }

    /// The block's coefficient with the largest magnitude, flat index 0 excluded: (bx, by) in LL.
    static func strongest(_ u: [Float], width: Int, blockX: Int, blockY: Int) -> (Int, Int, Float) {
        var best = (0, 0, Float(0)), bestMag: Float = -1
        for j in 0..<4 {
            for i in 0..<4 where !(i == 0 && j == 0) {
                let x = blockX * 4 + i, y = blockY * 4 + j
                let v = ll(u, width: width, x: x, y: y)
                if abs(v) > bestMag { bestMag = abs(v); best = (x, y, v) }
            }
        }
        return best
    }

    /// Embeds `bits` (repeated over all blocks) into an RGB picture; returns the marked RGB bytes.
    public static func embed(rgb: [UInt8], width: Int, height: Int, bits: [Bool]) -> [UInt8] {
        precondition(!bits.isEmpty && rgb.count == width * height * 3)
        var yuv = toYUV(rgb, width * height)
        let (llW, _, _) = blocks(width: width, height: height)
        let blocksPerRow = llW / 4
        let h4 = height - height % 4
        for n in 0..<(blocksPerRow * (h4 / 8)) {
            let bit = bits[n % bits.count]
            let (x, y, v) = strongest(yuv.u, width: width, blockX: n % blocksPerRow, blockY: n / blocksPerRow)
            let target = (v < 0 ? -1 : 1) * ((abs(v) / step).rounded(.down) + 0.25 + (bit ? 0.5 : 0)) * step
            let delta = (target - v) / 2
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] { yuv.u[(2 * y + dy) * width + 2 * x + dx] += delta }
        }
        var out = rgb
        for k in 0..<(width * height) {
            let yy = yuv.y[k]
            let b = (yuv.u[k] - 128) / 0.492 + yy
            let r = (yuv.v[k] - 128) / 0.877 + yy
            let g = (yy - 0.299 * r - 0.114 * b) / 0.587
            out[k * 3] = UInt8(min(max(r.rounded(), 0), 255))
            out[k * 3 + 1] = UInt8(min(max(g.rounded(), 0), 255))
            out[k * 3 + 2] = UInt8(min(max(b.rounded(), 0), 255))
        }
        return out
    }

    /// Per-bit scores in [0, 1] (mean vote over repetitions); a bit reads as 1 when its score > 0.5.
    public static func decode(rgb: [UInt8], width: Int, height: Int, bitCount: Int) -> [Float] {
        let u = toYUV(rgb, width * height).u
        let (llW, _, _) = blocks(width: width, height: height)
        let blocksPerRow = llW / 4
        let h4 = height - height % 4
        var votes = [Float](repeating: 0, count: bitCount), counts = [Float](repeating: 0, count: bitCount)
        for n in 0..<(blocksPerRow * (h4 / 8)) {
            let (_, _, v) = strongest(u, width: width, blockX: n % blocksPerRow, blockY: n / blocksPerRow)
            let r = abs(v).truncatingRemainder(dividingBy: step)
            votes[n % bitCount] += r > step / 2 ? 1 : 0
            counts[n % bitCount] += 1
        }
        return zip(votes, counts).map { $1 > 0 ? $0 / $1 : 0.5 }
    }
}

/// Lumen's 48-bit watermark payload: a 16-bit generator tag ("Lm") and a 32-bit picture id.
/// It identifies the generator and the picture, never the model.
public struct WatermarkPayload: Sendable, Equatable {
    public static let generatorTag: UInt16 = 0x4C6D  // "Lm"
    public static let bitCount = 48
    public var pictureID: UInt32

    public init(pictureID: UInt32) { self.pictureID = pictureID }

    public var bits: [Bool] {
        let value = UInt64(Self.generatorTag) << 32 | UInt64(pictureID)
        return (0..<48).map { (value >> (47 - UInt64($0))) & 1 == 1 }  // MSB first, as imwatermark reads
    }

    /// Reads a payload from decoded bits; nil unless the generator tag matches.
    public init?(bits: [Bool]) {
        guard bits.count == 48 else { return nil }
        let value = bits.reduce(UInt64(0)) { $0 << 1 | ($1 ? 1 : 0) }
        guard UInt16(value >> 32) == Self.generatorTag else { return nil }
        pictureID = UInt32(truncatingIfNeeded: value)
    }
}

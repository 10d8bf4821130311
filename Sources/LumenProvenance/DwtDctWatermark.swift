import Foundation

/// An invisible watermark readable by the `invisible-watermark` package's `dwtDct` decoder
/// (imwatermark 0.2.0, `maxDct.py`), the scheme SDXL uses; see shared/reference/c2pa-and-watermark.md §9.
///
/// Only the U channel of YUV carries the mark: a one-level Haar DWT's LL band is tiled in 4×4
/// blocks, block n carries bit n mod L, and in each block the largest-magnitude coefficient
/// (flat index 0 excluded) is read as 1 when `|v| mod Δ > Δ/2`, with Δ = 36. Written here because
/// no Swift package implements it.
///
/// The reference encoder sets `|v|` to `(⌊|v|/Δ⌋ + 0.25 + 0.5·bit)·Δ` once and hopes. That fails
/// on real pictures: pixels clipped at 0 or 255 cannot move, rounding to bytes and JPEG's
/// quantisation move `v` back towards a boundary, and a runner-up coefficient within a few units
/// of the chosen one takes its place after compression (a random-weights 256² JPEG at q90 lost
/// one of 48 bits in CI). So embedding here is a closed loop: mark, pass the pixels through the
/// same channel the reader will see (bytes, or an encode/decode round trip for lossy formats),
/// read every block as the reference decoder does, and correct the blocks that read wrong or
/// with less than `Δ/8` to spare, up to `rounds` times. Targets also keep the chosen
/// coefficient `selectionMargin` above the block's runner-up. Updates touch the LL band only
/// (each pixel of a 2×2 cell moves U by δ/2, keeping Y and V where the bytes allow), which the
/// reference decoder reads at a higher PSNR than the reference encoder (no H/V band swap).
public enum DwtDctWatermark {
    public static let step: Float = 36
    /// The reference decoder refuses pictures smaller than this in either dimension.
    public static let minimumSize = 256
    /// Distance, in LL units, a block's reading keeps from the decision boundaries (0 and Δ/2 of
    /// `|v| mod Δ`) before it counts as safe: JPEG q90 moves LL coefficients by a few units.
    static let safety: Float = step / 8
    /// How far, in LL units, the chosen coefficient stays above the block's next largest.
    static let selectionMargin: Float = 8
    /// Correction passes after the first marking.
    static let rounds = 4

    /// What a reader will see of marked pixels: nil for lossless formats (the bytes themselves),
    /// or an encode/decode round trip for lossy ones.
    public typealias Channel = ([UInt8]) throws -> [UInt8]

    /// U as OpenCV's `COLOR_BGR2YUV` computes it from bytes (rounded to a byte, as the reference
    /// decoder sees it).
    static func readU(_ rgb: [UInt8], _ count: Int) -> [Float] {
        var u = [Float](repeating: 0, count: count)
        for k in 0..<count {
            let r = Float(rgb[k * 3]), g = Float(rgb[k * 3 + 1]), b = Float(rgb[k * 3 + 2])
            let y = 0.299 * r + 0.587 * g + 0.114 * b
            u[k] = min(max((0.492 * (b - y) + 128).rounded(), 0), 255)
        }
        return u
    }

    /// LL-band size and block count of a picture: the DWT sees it cropped to multiples of 4.
    static func layout(width: Int, height: Int) -> (blocksPerRow: Int, count: Int) {
        let w4 = width - width % 4, h4 = height - height % 4
        return (w4 / 8, (w4 / 8) * (h4 / 8))
    }

    static func ll(_ u: [Float], width: Int, x: Int, y: Int) -> Float {
        (u[(2 * y) * width + 2 * x] + u[(2 * y) * width + 2 * x + 1] + u[(2 * y + 1) * width + 2 * x] + u[(2 * y + 1) * width + 2 * x + 1]) / 2
    }

    /// The block's coefficient with the largest magnitude, flat index 0 excluded, at (x, y) in LL,
    /// and the magnitude of the next largest.
    static func strongest(_ u: [Float], width: Int, blockX: Int, blockY: Int) -> (x: Int, y: Int, value: Float, runnerUp: Float) {
        var best = (0, 0, Float(0)), bestMag: Float = -1, second: Float = 0
        for j in 0..<4 {
            for i in 0..<4 where !(i == 0 && j == 0) {
                let x = blockX * 4 + i, y = blockY * 4 + j
                let v = ll(u, width: width, x: x, y: y)
                if abs(v) > bestMag {
                    second = max(bestMag, 0)
                    bestMag = abs(v); best = (x, y, v)
                } else if abs(v) > second {
                    second = abs(v)
                }
            }
        }
        return (best.0, best.1, best.2, second)
    }

    static func reads(_ magnitude: Float) -> Bool { magnitude.truncatingRemainder(dividingBy: step) > step / 2 }

    /// The magnitude nearest `magnitude` that reads as `bit` at the centre of its interval and
    /// stays `selectionMargin` above `runnerUp`, within what bytes can hold (LL ≤ 2·255).
    static func target(for magnitude: Float, bit: Bool, runnerUp: Float) -> Float {
        let q = (magnitude / step).rounded(.down)
        var best: Float = (q + 1.25 + (bit ? 0.5 : 0)) * step
        for k: Float in [-1, 0, 1, 2] {
            let m = (q + k + 0.25 + (bit ? 0.5 : 0)) * step
            guard m > 0, m <= 510, m >= runnerUp + selectionMargin else { continue }
            if abs(m - magnitude) < abs(best - magnitude) { best = m }
        }
        return best
    }

    /// Moves pixel `k`'s U by `du`, keeping Y and V (B and a little G move); where B is pinned at
    /// 0 or 255 the rest goes through R and G by the least change (U's gradient over them).
    static func shiftU(_ rgb: inout [UInt8], _ k: Int, by du: Float) {
        var r = Float(rgb[k * 3]), g = Float(rgb[k * 3 + 1]), b = Float(rgb[k * 3 + 2])
        func u() -> Float { 0.492 * (b - (0.299 * r + 0.587 * g + 0.114 * b)) }
        let before = u()
        let db = du / 0.492
        let newB = min(max(b + db, 0), 255)
        g = min(max(g - 0.114 / 0.587 * (newB - b), 0), 255)
        b = newB
        let rest = du - (u() - before)
        if abs(rest) > 0.25 {
            // ∂U/∂R = −0.492·0.299, ∂U/∂G = −0.492·0.587: the least-norm (ΔR, ΔG) giving `rest`.
            let ar: Float = -0.147108, ag: Float = -0.288804
            let norm = ar * ar + ag * ag
            r = min(max(r + rest * ar / norm, 0), 255)
            g = min(max(g + rest * ag / norm, 0), 255)
        }
        rgb[k * 3] = UInt8(r.rounded()); rgb[k * 3 + 1] = UInt8(g.rounded()); rgb[k * 3 + 2] = UInt8(b.rounded())
    }

    /// Embeds `bits` (repeated over all blocks) into an RGB picture; returns the marked RGB bytes.
    /// - Parameter channel: what a reader will see of the result (nil: the bytes as they are);
    ///   the loop corrects blocks until they read right through it.
    public static func embed(rgb: [UInt8], width: Int, height: Int, bits: [Bool], through channel: Channel? = nil) rethrows -> [UInt8] {
        precondition(!bits.isEmpty && rgb.count == width * height * 3)
        let (blocksPerRow, count) = layout(width: width, height: height)
        var marked = rgb
        for round in 0...rounds {
            let seen = round == 0 ? rgb : try channel?(marked) ?? marked
            let u = readU(seen, width * height)
            var corrected = false
            for n in 0..<count {
                let bit = bits[n % bits.count]
                let s = strongest(u, width: width, blockX: n % blocksPerRow, blockY: n / blocksPerRow)
                let magnitude = abs(s.value)
                if round > 0 {
                    let residual = magnitude.truncatingRemainder(dividingBy: step)
                    let centre = (bit ? 0.75 : 0.25) * step
                    if reads(magnitude) == bit && abs(residual - centre) <= step / 4 - safety
                        && magnitude - s.runnerUp >= selectionMargin / 2 { continue }
                }
                let delta = (s.value < 0 ? -1 : 1) * (target(for: magnitude, bit: bit, runnerUp: s.runnerUp) - magnitude)
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    shiftU(&marked, (2 * s.y + dy) * width + 2 * s.x + dx, by: delta / 2)
                }
                corrected = true
            }
            if !corrected { break }
        }
        return marked
    }

    /// Per-bit scores in [0, 1] (mean vote over repetitions); a bit reads as 1 when its score > 0.5.
    public static func decode(rgb: [UInt8], width: Int, height: Int, bitCount: Int) -> [Float] {
        var votes = [Float](repeating: 0, count: bitCount), counts = [Float](repeating: 0, count: bitCount)
        for (n, one) in blockReadings(rgb: rgb, width: width, height: height).enumerated() {
            votes[n % bitCount] += one ? 1 : 0
            counts[n % bitCount] += 1
        }
        return zip(votes, counts).map { $1 > 0 ? $0 / $1 : 0.5 }
    }

    /// Each block's reading in raster order, as the reference decoder reads it.
    static func blockReadings(rgb: [UInt8], width: Int, height: Int) -> [Bool] {
        let u = readU(rgb, width * height)
        let (blocksPerRow, count) = layout(width: width, height: height)
        return (0..<count).map { n in reads(abs(strongest(u, width: width, blockX: n % blocksPerRow, blockY: n / blocksPerRow).value)) }
    }

    /// Blocks whose reading differs from `bits`, out of all blocks: how close a picture came to
    /// losing its mark (each bit is a majority vote over its blocks).
    public static func blockErrors(rgb: [UInt8], width: Int, height: Int, bits: [Bool]) -> (wrong: Int, blocks: Int) {
        let readings = blockReadings(rgb: rgb, width: width, height: height)
        return (readings.enumerated().filter { $1 != bits[$0 % bits.count] }.count, readings.count)
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

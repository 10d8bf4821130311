import Foundation

/// 3×3 stride-1 convolutions by Winograd's minimal filtering algorithm F(4×4, 3×3).
///
/// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 4×4 block
/// of outputs comes from a 6×6 input tile as `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, so the 144
/// multiplications of a direct 3×3 convolution per block become 36 — the element-wise products
/// of all channels and tiles are 36 independent GEMMs `M[ξ] = U[ξ] · V[ξ]` (`U[ξ]`: Cout × Cin,
/// `V[ξ]`: Cin × tiles) that OpenBLAS runs at its full rate. That is 4× fewer FLOPs than im2col +
/// GEMM, which matters most for the SD VAE decoder (3×3 convolutions at 512×512 are ~2.5 TFLOP
/// done directly). The interpolation points 0, ±1, ±2 keep fp32 error around 1e-6 relative
/// (tested against the direct convolution).
///
/// Transforms run vectorised across the tiles of one row: each input row is first de-interleaved
/// into its 4 phases (column `4k + q − 1` → phase q, index k), so every transform step is a
/// contiguous loop over the row's tiles that the compiler vectorises.
/// Tiles are processed in chunks of whole tile rows so the transformed buffers stay ≤ 8 MB each,
/// whatever the picture size (no memory peak at 512×512); measured on the TAESD decoder at 256²,
/// 8 MB chunks decode as fast as 32 MB ones (0.33–0.36 s vs 0.43 s) with 64 MB less peak memory.
public enum Winograd {
    /// On unless `LUMEN_WINOGRAD=0` (for measuring against the direct path).
    public static let enabled: Bool = getenvString("LUMEN_WINOGRAD") != "0"

    // The transforms below are the matrices of F(4×4, 3×3) for the points 0, 1, −1, 2, −2, ∞,
    // written out:
    //   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
    //   G  = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1]
    //   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]

    /// Whether `conv2d` should take this path: 3×3, stride 1, padding 1, enough channels for the
    /// GEMMs to dominate the transforms.
    ///
    /// Small pictures stay on im2col: the filters are transformed on every call (caching them would
    /// take 4× the weights' memory), and with few tiles the 36 GEMMs are narrow and bound by
    /// reading the transformed filters. Measured on the SD UNet (SD-Turbo, kernel profiler, same
    /// process alternating), with the vectorised filter transform and the blocked filter buffer:
    /// at 32×32 latents Winograd beats im2col for every layer (256²: 0.61–0.68 → 0.33–0.41 s for
    /// the 32² convolutions of a step; 512²: 2.2–2.5 → 1.3–1.6 s); at 16×16 (16 tiles per image)
    /// it loses (0.54 → 0.77 s). The VAE decoder (64² to 512²) is 1.8× faster with it.
    static func applies(c: Int, o: Int, kh: Int, kw: Int, stride: Int, padding: NN.Padding, h: Int, w: Int) -> Bool {
        kh == 3 && kw == 3 && stride == 1 && padding == .same(1) && c >= minimumChannels && o >= minimumChannels && h * w >= minimumPixels
    }

    /// Floats in each of the transformed input and product buffers (`LUMEN_WINOGRAD_CHUNK_MB`
    /// overrides, for measuring).
    static let chunkFloats: Int = (Int(getenvString("LUMEN_WINOGRAD_CHUNK_MB") ?? "") ?? 8) << 18

    /// Fewest tiles per chunk (`LUMEN_WINOGRAD_CHUNK_TILES` overrides): the 36 GEMMs have this
    /// many columns, and below a few hundred OpenBLAS runs them well under its peak.
    static let minimumChunkTiles: Int = Int(getenvString("LUMEN_WINOGRAD_CHUNK_TILES") ?? "") ?? 512

    /// Fewest input and output channels that take the Winograd path (`LUMEN_WINOGRAD_CHANNELS` overrides).
    static let minimumChannels: Int = Int(getenvString("LUMEN_WINOGRAD_CHANNELS") ?? "") ?? 8

    /// Smallest output area (pixels) that takes the Winograd path (`LUMEN_WINOGRAD_MIN` overrides).
    static let minimumPixels: Int = Int(getenvString("LUMEN_WINOGRAD_MIN") ?? "") ?? 32 * 32

    /// `U[ξ][oc][ic] = (G g Gᵀ)[ξ]` for every filter, with G's rows written out (no tables):
    /// this runs on every call, so it must stay far cheaper than the GEMMs it feeds.
    ///
    /// Vectorised across 8 input channels at a time (`U[ξ][oc]` rows are contiguous in `ic`), with
    /// G's fractions as multiplications: the scalar version with divisions cost 10–40 ns per weight
    /// (82 ms for a 640→640 bank, 40 % of that layer's GEMM time in the SD UNet at 512²).
    static func transformWeights(_ wp: UnsafePointer<Float>, o: Int, c: Int, into u: UnsafeMutablePointer<Float>) {
        typealias F8 = SIMD8<Float>
        let plane = o * c
        @inline(__always) func g6(_ a: F8, _ b: F8, _ c: F8) -> (F8, F8, F8, F8, F8, F8) {
            let p = a + c
            let a24 = a * (1 / 24 as Float), b12 = b * (1 / 12 as Float), c6 = c * (1 / 6 as Float)
            return (a * 0.25, (p + b) * (-1 / 6 as Float), (p - b) * (-1 / 6 as Float), a24 + b12 + c6, a24 - b12 + c6, c)
        }
        parallelFor(o) { oc in
            var ic = 0
            while ic < c {
                let lanes = Swift.min(8, c - ic)
                // Gather the 9 taps of `lanes` filters: k[j][lane] = weight[oc][ic + lane][j].
                var k = (F8(), F8(), F8(), F8(), F8(), F8(), F8(), F8(), F8())
                withUnsafeMutableBytes(of: &k) { raw in
                    let t = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                    let src = wp + (oc * c + ic) * 9
                    for lane in 0..<lanes { for j in 0..<9 { t[j * 8 + lane] = src[lane * 9 + j] } }
                }
                // Columns first: G applied to each of the 3 kernel columns → 6×3.
                let c0 = g6(k.0, k.3, k.6), c1 = g6(k.1, k.4, k.7), c2 = g6(k.2, k.5, k.8)
                let base = u + oc * c + ic
                @inline(__always) func put(_ i: Int, _ a: F8, _ b: F8, _ cc: F8) {
                    let r = g6(a, b, cc)
                    @inline(__always) func store(_ j: Int, _ v: F8) {
                        let dst = base + (i * 6 + j) * plane
                        if lanes == 8 {
                            UnsafeMutableRawPointer(dst).storeBytes(of: v, as: F8.self)
                        } else {
                            for lane in 0..<lanes { dst[lane] = v[lane] }
                        }
                    }
                    store(0, r.0); store(1, r.1); store(2, r.2); store(3, r.3); store(4, r.4); store(5, r.5)
                }
                put(0, c0.0, c1.0, c2.0); put(1, c0.1, c1.1, c2.1); put(2, c0.2, c1.2, c2.2)
                put(3, c0.3, c1.3, c2.3); put(4, c0.4, c1.4, c2.4); put(5, c0.5, c1.5, c2.5)
                ic += 8
            }
        }
    }

    /// `y = conv2d(x, weight, bias, stride 1, padding 1)` for NCHW `x` and `[O, C, 3, 3]` weights.
    ///
    /// `weightRows(range, body)` calls `body` with the fp32 filters of output channels `range`
    /// (`[range.count, C, 3, 3]`): a stored fp16 bank is widened one block at a time, so no fp32
    /// copy of a whole 1280→1280 bank (59 MB) is made. `filterBlockFloats` and `chunkRows`
    /// override the blocking (tests use them to take every loop path on small inputs).
    static func conv3x3(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
                        weightRows: (Range<Int>, (UnsafePointer<Float>) -> Void) -> Void, o: Int, bias: UnsafePointer<Float>?,
                        out: UnsafeMutablePointer<Float>,
                        filterBlockFloats: Int = ScratchPool.maximumPooledFloats, chunkRows: Int? = nil) {
        let tilesX = (w + 3) / 4, tilesY = (h + 3) / 4
        // Chunk of tile rows (over all images): 36 · max(c, o) · rows · tilesX ≤ chunkFloats.
        let totalRows = n * tilesY
        // At least `minimumChunkTiles` tiles per chunk, so the GEMMs stay wide for many channels.
        let defaultRows = Swift.max(1, Swift.min(totalRows, Swift.max(chunkFloats / (36 * Swift.max(c, o) * tilesX),
                                                                       (minimumChunkTiles + tilesX - 1) / tilesX)))
        let rowsPerChunk = chunkRows.map { Swift.max(1, Swift.min(totalRows, $0)) } ?? defaultRows
        let capacity = rowsPerChunk * tilesX
        // Blocks of output channels whose transformed filters fit one pooled buffer (a 640→640
        // bank is 59 MB transformed: above the pool's limit it was mapped and page-faulted on every
        // call). With one block the filters are transformed once; with several and several tile
        // chunks (never at the SD UNet's sizes, where one chunk holds the whole picture) each
        // chunk transforms them again.
        let oBlock = Swift.max(1, Swift.min(o, filterBlockFloats / (36 * c)))
        let wholeU = oBlock == o
        ScratchPool.withBuffer(36 * oBlock * c) { u in
        ScratchPool.withBuffer(36 * c * capacity) { v in
        ScratchPool.withBuffer(36 * oBlock * capacity) { m in
        if wholeU {
            OpProfiler.measure("  winograd filter transform \(c)→\(o)") {
                weightRows(0..<o) { transformWeights($0, o: o, c: c, into: u) }
            }
        }
        var row0 = 0
        while row0 < totalRows {
            let rows = Swift.min(rowsPerChunk, totalRows - row0)
            let t = rows * tilesX
            OpProfiler.measure("  winograd input transform \(c) @\(h)×\(w)") {
                inputTransform(x, c: c, h: h, w: w, tilesX: tilesX, tilesY: tilesY, row0: row0, rows: rows, v: v, t: t)
            }
            var o0 = 0
            while o0 < o {
                let ob = Swift.min(oBlock, o - o0)
                if !wholeU {
                    OpProfiler.measure("  winograd filter transform \(c)→\(o)") {
                        weightRows(o0..<o0 + ob) { transformWeights($0, o: ob, c: c, into: u) }
                    }
                }
                OpProfiler.measure("  winograd GEMMs \(c)→\(o) @\(h)×\(w)") {
                    for xi in 0..<36 {
                        BLAS.gemm(m: ob, n: t, k: c, a: u + xi * ob * c, lda: c, b: v + xi * c * t, ldb: t,
                                  c: m + xi * ob * t, ldc: t)
                    }
                }
                OpProfiler.measure("  winograd output transform \(o) @\(h)×\(w)") {
                    outputTransform(m, o: ob, outChannels: o, firstChannel: o0, h: h, w: w, tilesX: tilesX, tilesY: tilesY,
                                    row0: row0, rows: rows, t: t, bias: bias, out: out)
                }
                o0 += ob
            }
            row0 += rows
        }
        }
        }
        }
    }

    /// `V[ξ][ic][tile] = (Bᵀ d B)[ξ]` for the chunk's tiles. One task per channel.
    ///
    /// Each of a tile row's 6 input rows is de-interleaved once into its 4 phases
    /// (`phase[q][k] = row[4k + q − 1]`, zero outside the picture): the 6 patch columns of every
    /// tile are then contiguous vectors over the tiles (`j` → phase `j mod 4`, shifted by `j / 4`),
    /// with no per-element bounds test — it read every element 6 times through a branch before.
    static func inputTransform(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, tilesX: Int, tilesY: Int,
                               row0: Int, rows: Int, v: UnsafeMutablePointer<Float>, t: Int) {
        let stride = tilesX + 1  // phase length: k = 0...tilesX
        parallelFor(c) { ic in
            let phases = UnsafeMutablePointer<Float>.allocate(capacity: 6 * 4 * stride)
            let e = UnsafeMutablePointer<Float>.allocate(capacity: 36 * tilesX)
            let f = UnsafeMutablePointer<Float>.allocate(capacity: 36 * tilesX)
            defer { phases.deallocate(); e.deallocate(); f.deallocate() }
            if ScratchPool.poison { for (p, n) in [(phases, 24 * stride), (e, 36 * tilesX), (f, 36 * tilesX)] { p.initialize(repeating: .nan, count: n) } }
            for r in 0..<rows {
                let global = row0 + r
                let image = global / tilesY, ty = global % tilesY
                let plane = x + (image * c + ic) * h * w
                for i in 0..<6 {
                    let dst = phases + i * 4 * stride
                    let iy = ty * 4 - 1 + i
                    dst.update(repeating: 0, count: 4 * stride)
                    guard iy >= 0 && iy < h else { continue }
                    let src = plane + iy * w
                    // Element ix sits at s = ix + 1: phase s mod 4, index s / 4.
                    for ix in 0..<w {
                        let s = ix + 1
                        dst[(s & 3) * stride + (s >> 2)] = src[ix]
                    }
                }
                transformRows(phases, stride: stride, e, n: tilesX)
                transformColumns(e, f, n: tilesX)
                for xi in 0..<36 {
                    (v + (xi * c + ic) * t + r * tilesX).update(from: f + xi * tilesX, count: tilesX)
                }
            }
        }
    }

    /// `e[a][j] = Σᵢ Bᵀ[a][i] d[i][j]` over vectors of length n (the zeros of Bᵀ written out), where
    /// `d[i][j]` is phase `j mod 4` of row `i`, starting at tile `j / 4`.
    @inline(__always)
    static func transformRows(_ phases: UnsafeMutablePointer<Float>, stride: Int, _ e: UnsafeMutablePointer<Float>, n: Int) {
        for j in 0..<6 {
            let col = (j & 3) * stride + (j >> 2)
            let d0 = phases + col, d1 = phases + 4 * stride + col, d2 = phases + 8 * stride + col
            let d3 = phases + 12 * stride + col, d4 = phases + 16 * stride + col, d5 = phases + 20 * stride + col
            let e0 = e + (0 * 6 + j) * n, e1 = e + (1 * 6 + j) * n, e2 = e + (2 * 6 + j) * n
            let e3 = e + (3 * 6 + j) * n, e4 = e + (4 * 6 + j) * n, e5 = e + (5 * 6 + j) * n
            for k in 0..<n {
                let a0 = d0[k], a1 = d1[k], a2 = d2[k], a3 = d3[k], a4 = d4[k], a5 = d5[k]
                e0[k] = 4 * a0 - 5 * a2 + a4
                e1[k] = -4 * a1 - 4 * a2 + a3 + a4
                e2[k] = 4 * a1 - 4 * a2 - a3 + a4
                e3[k] = -2 * a1 - a2 + 2 * a3 + a4
                e4[k] = 2 * a1 - a2 - 2 * a3 + a4
                e5[k] = 4 * a1 - 5 * a3 + a5
            }
        }
    }

    /// `f[i][b] = Σⱼ e[i][j] B[j][b]` (B = (Bᵀ)ᵀ), vectors of length n.
    @inline(__always)
    static func transformColumns(_ e: UnsafeMutablePointer<Float>, _ f: UnsafeMutablePointer<Float>, n: Int) {
        for i in 0..<6 {
            let s = e + i * 6 * n, r = f + i * 6 * n
            for k in 0..<n {
                let a0 = s[k], a1 = s[n + k], a2 = s[2 * n + k], a3 = s[3 * n + k], a4 = s[4 * n + k], a5 = s[5 * n + k]
                r[k] = 4 * a0 - 5 * a2 + a4
                r[n + k] = -4 * a1 - 4 * a2 + a3 + a4
                r[2 * n + k] = 4 * a1 - 4 * a2 - a3 + a4
                r[3 * n + k] = -2 * a1 - a2 + 2 * a3 + a4
                r[4 * n + k] = 2 * a1 - a2 - 2 * a3 + a4
                r[5 * n + k] = 4 * a1 - 5 * a3 + a5
            }
        }
    }

    /// `y = Aᵀ M A` (+ bias) for each output channel and tile of the chunk, written into `out`
    /// with the last tiles clipped to the picture. One task per output channel.
    /// `m` holds the products of `o` output channels starting at `firstChannel` of `outChannels`.
    static func outputTransform(_ m: UnsafePointer<Float>, o: Int, outChannels: Int, firstChannel: Int, h: Int, w: Int,
                                tilesX: Int, tilesY: Int, row0: Int, rows: Int, t: Int, bias: UnsafePointer<Float>?,
                                out: UnsafeMutablePointer<Float>) {
        parallelFor(o) { oc in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: 24 * tilesX)  // Aᵀ M: 4×6
            let y = UnsafeMutablePointer<Float>.allocate(capacity: 16 * tilesX)  // 4×4
            defer { s.deallocate(); y.deallocate() }
            if ScratchPool.poison { s.initialize(repeating: .nan, count: 24 * tilesX); y.initialize(repeating: .nan, count: 16 * tilesX) }
            let b = bias?[firstChannel + oc] ?? 0
            for r in 0..<rows {
                let global = row0 + r
                let image = global / tilesY, ty = global % tilesY
                @inline(__always) func mrow(_ xi: Int) -> UnsafePointer<Float> { m + (xi * o + oc) * t + r * tilesX }
                for j in 0..<6 {
                    let a0 = mrow(j), a1 = mrow(6 + j), a2 = mrow(12 + j), a3 = mrow(18 + j), a4 = mrow(24 + j), a5 = mrow(30 + j)
                    let s0 = s + j * tilesX, s1 = s + (6 + j) * tilesX, s2 = s + (12 + j) * tilesX, s3 = s + (18 + j) * tilesX
                    for k in 0..<tilesX {
                        let p1 = a1[k] + a2[k], m1 = a1[k] - a2[k], p2 = a3[k] + a4[k], m2 = a3[k] - a4[k]
                        s0[k] = a0[k] + p1 + p2
                        s1[k] = m1 + 2 * m2
                        s2[k] = p1 + 4 * p2
                        s3[k] = m1 + 8 * m2 + a5[k]
                    }
                }
                for i in 0..<4 {
                    let src = s + i * 6 * tilesX, dst = y + i * 4 * tilesX
                    for k in 0..<tilesX {
                        let a0 = src[k], a1 = src[tilesX + k], a2 = src[2 * tilesX + k]
                        let a3 = src[3 * tilesX + k], a4 = src[4 * tilesX + k], a5 = src[5 * tilesX + k]
                        let p1 = a1 + a2, m1 = a1 - a2, p2 = a3 + a4, m2 = a3 - a4
                        dst[k] = a0 + p1 + p2 + b
                        dst[tilesX + k] = m1 + 2 * m2 + b
                        dst[2 * tilesX + k] = p1 + 4 * p2 + b
                        dst[3 * tilesX + k] = m1 + 8 * m2 + a5 + b
                    }
                }
                let plane = out + (image * outChannels + firstChannel + oc) * h * w
                for i in 0..<4 {
                    let oy = ty * 4 + i
                    guard oy < h else { break }
                    let line = plane + oy * w
                    for q in 0..<4 {
                        let src = y + (i * 4 + q) * tilesX
                        var tx = 0, ox = q
                        while ox < w {
                            line[ox] = src[tx]
                            tx += 1; ox += 4
                        }
                    }
                }
            }
        }
    }
}

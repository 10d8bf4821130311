import Foundation

// The three transforms of Winograd F(4×4, 3×3) (see `Winograd`), written out for the points
// 0, 1, −1, 2, −2, ∞:
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
//
// Every transform works on explicit 8-lane vectors (8 tiles, or 8 input channels for the
// filters), one segment of a tile row at a time, so the same code serves the chunked path
// (whole tile rows, one task per channel) and the fused one (a block's segments on one core).
// This alone was no faster than the loops it replaced before 80ad9e4 (TAESD at 512², fp32,
// kernel profiler, one run each: output transform 0.51 → 0.55 s, input 0.26 → 0.29 s): those
// transforms were bound by memory, which the fused path and `AllocatorPolicy`'s arena limit
// addressed.

/// Where a transform writes its results: fp32 for OpenBLAS's sgemm, or bf16 (rounded to nearest
/// even) that oneDNN's bf16 products read directly, so no product converts its operands.
protocol WinogradSink {
    /// Stores the first `lanes` values of `v` at `offset`.
    func store(_ v: SIMD8<Float>, at offset: Int, lanes: Int)
    /// Stores `count` consecutive values from `src` at `offset`.
    func storeRow(_ src: UnsafePointer<Float>, count: Int, at offset: Int)
}

struct Float32Sink: WinogradSink {
    let base: UnsafeMutablePointer<Float>
    @inline(__always) func store(_ v: SIMD8<Float>, at offset: Int, lanes: Int) {
        if lanes == 8 {
            UnsafeMutableRawPointer(base + offset).storeBytes(of: v, as: SIMD8<Float>.self)
        } else {
            for lane in 0..<lanes { base[offset + lane] = v[lane] }
        }
    }

    @inline(__always) func storeRow(_ src: UnsafePointer<Float>, count: Int, at offset: Int) {
        (base + offset).update(from: src, count: count)
    }
}

struct BFloat16Sink: WinogradSink {
    let base: UnsafeMutablePointer<UInt16>
    @inline(__always) func store(_ v: SIMD8<Float>, at offset: Int, lanes: Int) {
        let h = BF16Matmul.bfloat16(v)
        if lanes == 8 {
            UnsafeMutableRawPointer(base + offset).storeBytes(of: h, as: SIMD8<UInt16>.self)
        } else {
            for lane in 0..<lanes { base[offset + lane] = h[lane] }
        }
    }

    @inline(__always) func storeRow(_ src: UnsafePointer<Float>, count: Int, at offset: Int) {
        let dst = base + offset
        var i = 0
        while i + 16 <= count {
            let h = BF16Matmul.bfloat16(UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self))
            UnsafeMutableRawPointer(dst + i).storeBytes(of: h, as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < count {
            dst[i] = BF16Matmul.bfloat16(bits: src[i].bitPattern)
            i += 1
        }
    }
}

extension Winograd {
    typealias F8 = SIMD8<Float>

    /// Bᵀ applied to one column (or row) of a 6×6 input tile, the zeros of Bᵀ written out.
    @inline(__always)
    static func bt(_ a0: F8, _ a1: F8, _ a2: F8, _ a3: F8, _ a4: F8, _ a5: F8) -> (F8, F8, F8, F8, F8, F8) {
        (4 * a0 - 5 * a2 + a4, -4 * a1 - 4 * a2 + a3 + a4, 4 * a1 - 4 * a2 - a3 + a4,
         -2 * a1 - a2 + 2 * a3 + a4, 2 * a1 - a2 - 2 * a3 + a4, 4 * a1 - 5 * a3 + a5)
    }

    /// Aᵀ applied to one column (or row) of a 6×6 product tile.
    @inline(__always)
    static func at(_ a0: F8, _ a1: F8, _ a2: F8, _ a3: F8, _ a4: F8, _ a5: F8) -> (F8, F8, F8, F8) {
        let p1 = a1 + a2, m1 = a1 - a2, p2 = a3 + a4, m2 = a3 - a4
        return (a0 + p1 + p2, m1 + 2 * m2, p1 + 4 * p2, m1 + 8 * m2 + a5)
    }

    /// G applied to one column (or row) of a 3×3 filter.
    @inline(__always)
    static func g(_ a: F8, _ b: F8, _ c: F8) -> (F8, F8, F8, F8, F8, F8) {
        let p = a + c
        let a24 = a * (1 / 24 as Float), b12 = b * (1 / 12 as Float), c6 = c * (1 / 6 as Float)
        return (a * 0.25, (p + b) * (-1 / 6 as Float), (p - b) * (-1 / 6 as Float), a24 + b12 + c6, a24 - b12 + c6, c)
    }

    /// `U[ξ][oc][ic] = (G g Gᵀ)[ξ]` for every filter: this runs on every call, so it must stay
    /// far cheaper than the GEMMs it feeds.
    ///
    /// Vectorised across 8 input channels at a time (`U[ξ][oc]` rows are contiguous in `ic`), with
    /// G's fractions as multiplications: the scalar version with divisions cost 10–40 ns per weight
    /// (82 ms for a 640→640 bank, 40 % of that layer's GEMM time in the SD UNet at 512²).
    ///
    /// Each filter's 36 values for a block of `filterStageChannels` input channels are staged and
    /// then copied plane by plane, as the input transform does (see `stageFloats`): the planes are
    /// `o · c` apart, a 4 KiB multiple for most banks (640→640: 800 KiB in bf16). The SD VAE
    /// decoder's 512→512 bank at 512²: 4.9 → 3.1 ms per call (Zen 5 EPYC, kernel profiler, two
    /// alternating pairs).
    static func transformWeights<Sink: WinogradSink>(_ wp: UnsafePointer<Float>, o: Int, c: Int, into u: Sink) {
        let plane = o * c
        let sw = filterStageChannels
        parallelFor(o) { oc in
            let stage = UnsafeMutablePointer<Float>.allocate(capacity: 36 * sw)
            defer { stage.deallocate() }
            let staged = Float32Sink(base: stage)
            var ic0 = 0
            while ic0 < c {
                let count = Swift.min(sw, c - ic0)
                var ic = ic0
                while ic < ic0 + count {
                    let lanes = Swift.min(8, ic0 + count - ic)
                    // Gather the 9 taps of `lanes` filters: k[j][lane] = weight[oc][ic + lane][j].
                    var k = (F8(), F8(), F8(), F8(), F8(), F8(), F8(), F8(), F8())
                    withUnsafeMutableBytes(of: &k) { raw in
                        let t = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                        let src = wp + (oc * c + ic) * 9
                        for lane in 0..<lanes { for j in 0..<9 { t[j * 8 + lane] = src[lane * 9 + j] } }
                    }
                    // Columns first: G applied to each of the 3 kernel columns → 6×3.
                    let c0 = g(k.0, k.3, k.6), c1 = g(k.1, k.4, k.7), c2 = g(k.2, k.5, k.8)
                    let base = ic - ic0
                    @inline(__always) func put(_ i: Int, _ a: F8, _ b: F8, _ cc: F8) {
                        let r = g(a, b, cc)
                        let row = base + i * 6 * sw
                        staged.store(r.0, at: row, lanes: 8); staged.store(r.1, at: row + sw, lanes: 8)
                        staged.store(r.2, at: row + 2 * sw, lanes: 8); staged.store(r.3, at: row + 3 * sw, lanes: 8)
                        staged.store(r.4, at: row + 4 * sw, lanes: 8); staged.store(r.5, at: row + 5 * sw, lanes: 8)
                    }
                    put(0, c0.0, c1.0, c2.0); put(1, c0.1, c1.1, c2.1); put(2, c0.2, c1.2, c2.2)
                    put(3, c0.3, c1.3, c2.3); put(4, c0.4, c1.4, c2.4); put(5, c0.5, c1.5, c2.5)
                    ic += 8
                }
                for xi in 0..<36 { u.storeRow(stage + xi * sw, count: count, at: xi * plane + oc * c + ic0) }
                ic0 += count
            }
        }
    }

    /// Input channels whose transformed filters `transformWeights` stages at a time (a multiple
    /// of 8; its 36 rows, 9 KiB, stay in L1).
    static let filterStageChannels = 64

    /// `V[ξ][ic][tile] = (Bᵀ d B)[ξ]` for the chunk's tiles (`rows` tile rows from `row0`, over
    /// all images; `t` tiles in all). One task per channel.
    static func inputTransform<Sink: WinogradSink>(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, tilesX: Int, tilesY: Int,
                                                   row0: Int, rows: Int, v: Sink, t: Int) {
        let stride = phaseStride(tiles: tilesX)
        parallelFor(c) { ic in
            let phases = UnsafeMutablePointer<Float>.allocate(capacity: 24 * stride)
            let e = UnsafeMutablePointer<F8>.allocate(capacity: 36)
            let stage = UnsafeMutablePointer<Float>.allocate(capacity: stageFloats(tiles: tilesX))
            defer { phases.deallocate(); e.deallocate(); stage.deallocate() }
            for r in 0..<rows {
                let global = row0 + r
                let image = global / tilesY, ty = global % tilesY
                inputTileRow(x + (image * c + ic) * h * w, h: h, w: w, ty: ty, tx0: 0, cols: tilesX, phases: phases, stride: stride,
                             e: e, stage: stage, into: v, offset: ic * t + r * tilesX, step: c * t)
            }
        }
    }

    /// Length of each de-interleaved phase for a segment of `tiles` tiles: indices 0...tiles,
    /// rounded up with room for a whole vector past the last tile, so loads never need a lane
    /// count (the extra lanes are zero and unused).
    static func phaseStride(tiles: Int) -> Int { (tiles + 1 + 7) / 8 * 8 + 8 }

    /// Floats of the staging buffer for a segment of `tiles` tiles: 36 rows of `tiles` rounded
    /// up to whole vectors.
    ///
    /// The transforms stage their 36 values per tile here and copy each ξ's row to (or from) its
    /// plane in one run, instead of storing (or loading) one 8-tile vector in each of the 36
    /// planes in turn. The planes are `c · t` elements apart, a multiple of 4 KiB for the usual
    /// power-of-two sizes (64 channels × 64 tiles: 8 KiB in bf16), and addresses 4 KiB apart share
    /// an L1 set: 36 interleaved streams into one 12-way set evicted each line before it was
    /// filled. Measured on a 2-core Zen 5 EPYC (kernel profiler, random TAESD at 256², 5 runs, two
    /// alternating pairs): the fused 64-channel input transform 0.67–0.70 → 0.27–0.30 core-s, the
    /// output transform 0.29–0.31 → 0.21–0.29, the decode 0.073 → 0.043–0.055 s.
    static func stageFloats(tiles: Int) -> Int { 36 * stageStride(tiles: tiles) }

    /// Floats from one ξ's row of the staging buffer to the next.
    @inline(__always) static func stageStride(tiles: Int) -> Int { (tiles + 7) / 8 * 8 }

    /// The input transform of tiles `tx0 ..< tx0 + cols` of tile row `ty` of one channel's
    /// `plane`: `(Bᵀ d B)[ξ]` of segment tile `k` goes to `offset + ξ · step + k`.
    ///
    /// The segment's 6 input rows are de-interleaved once into their 4 phases
    /// (`phase[q][k] = row[4(tx0 + k) + q − 1]`, zero outside the picture): column j of tile k's
    /// patch is then phase `j mod 4` at index `k + j / 4`, so 8 tiles' patches are 36 plain
    /// vector loads. `phases` holds `24 · phaseStride(tiles: cols)` floats, `e` 36 vectors,
    /// `stage` `stageFloats(tiles: cols)` floats.
    @inline(__always)
    static func inputTileRow<Sink: WinogradSink>(_ plane: UnsafePointer<Float>, h: Int, w: Int, ty: Int, tx0: Int, cols: Int,
                                                 phases: UnsafeMutablePointer<Float>, stride: Int, e: UnsafeMutablePointer<F8>,
                                                 stage: UnsafeMutablePointer<Float>, into v: Sink, offset: Int, step: Int) {
        let first = 4 * tx0 - 1
        let lo = Swift.max(0, first), hi = Swift.min(w, 4 * (tx0 + cols) + 1)
        for i in 0..<6 {
            let dst = phases + i * 4 * stride
            let iy = ty * 4 - 1 + i
            dst.update(repeating: 0, count: 4 * stride)
            guard iy >= 0 && iy < h else { continue }
            let src = plane + iy * w
            // Element ix sits at s = ix − first: phase s mod 4, index s / 4. Whole runs of 32
            // (8 tiles, from a multiple of 4) are split by vector shuffles; the ends go one by one.
            let vectorStart = (lo - first + 3) & ~3
            var s = vectorStart
            while first + s + 32 <= hi {
                deinterleave32(src + first + s, into: dst + (s >> 2), stride: stride)
                s += 32
            }
            for ix in lo..<Swift.min(hi, first + vectorStart) {
                let s = ix - first
                dst[(s & 3) * stride + (s >> 2)] = src[ix]
            }
            for ix in (first + s)..<hi where ix >= lo {
                let s = ix - first
                dst[(s & 3) * stride + (s >> 2)] = src[ix]
            }
        }
        @inline(__always) func d(_ i: Int, _ j: Int, _ k: Int) -> F8 {
            VectorMath.load(phases + i * 4 * stride + (j & 3) * stride + (j >> 2) + k)
        }
        let sw = stageStride(tiles: cols)
        let staged = Float32Sink(base: stage)
        var k = 0
        while k < cols {
            // Bᵀ down each of the 6 patch columns, then B along each resulting row.
            for j in 0..<6 {
                let col = bt(d(0, j, k), d(1, j, k), d(2, j, k), d(3, j, k), d(4, j, k), d(5, j, k))
                e[j] = col.0; e[6 + j] = col.1; e[12 + j] = col.2; e[18 + j] = col.3; e[24 + j] = col.4; e[30 + j] = col.5
            }
            for a in 0..<6 {
                let f = bt(e[a * 6], e[a * 6 + 1], e[a * 6 + 2], e[a * 6 + 3], e[a * 6 + 4], e[a * 6 + 5])
                let xi = k + a * 6 * sw
                staged.store(f.0, at: xi, lanes: 8); staged.store(f.1, at: xi + sw, lanes: 8)
                staged.store(f.2, at: xi + 2 * sw, lanes: 8); staged.store(f.3, at: xi + 3 * sw, lanes: 8)
                staged.store(f.4, at: xi + 4 * sw, lanes: 8); staged.store(f.5, at: xi + 5 * sw, lanes: 8)
            }
            k += 8
        }
        for xi in 0..<36 { v.storeRow(stage + xi * sw, count: cols, at: offset + xi * step) }
    }

    /// `y = Aᵀ M A` (+ bias) for each output channel and tile of the chunk, written into `out`
    /// with the last tiles clipped to the picture. One task per output channel.
    /// `m` holds the products of `o` output channels starting at `firstChannel` of `outChannels`.
    static func outputTransform(_ m: UnsafePointer<Float>, o: Int, outChannels: Int, firstChannel: Int, h: Int, w: Int,
                                tilesX: Int, tilesY: Int, row0: Int, rows: Int, t: Int, bias: UnsafePointer<Float>?,
                                out: UnsafeMutablePointer<Float>, epilogue: Epilogue = Epilogue()) {
        parallelFor(o) { oc in
            let s = UnsafeMutablePointer<F8>.allocate(capacity: 40)
            let stage = UnsafeMutablePointer<Float>.allocate(capacity: stageFloats(tiles: tilesX))
            defer { s.deallocate(); stage.deallocate() }
            let b = bias?[firstChannel + oc] ?? 0
            for r in 0..<rows {
                let global = row0 + r
                let image = global / tilesY, ty = global % tilesY
                let plane = (image * outChannels + firstChannel + oc) * h * w
                outputTileRow(m + oc * t + r * tilesX, step: o * t, out + plane,
                              h: h, w: w, ty: ty, tx0: 0, cols: tilesX, bias: b, scratch: s, stage: stage, epilogue: epilogue.plane(plane))
            }
        }
    }

    /// The output transform of tiles `tx0 ..< tx0 + cols` of tile row `ty` of one output
    /// channel: product ξ of segment tile `k` is read at `m + ξ · step + k`, and the 4×4 outputs
    /// (+ `bias`) are written into `plane`, clipped to the picture. `scratch` holds 40 vectors,
    /// `stage` `stageFloats(tiles: cols)` floats (each ξ's row is copied there first; see
    /// `stageFloats`).
    @inline(__always)
    static func outputTileRow(_ m: UnsafePointer<Float>, step: Int, _ plane: UnsafeMutablePointer<Float>, h: Int, w: Int,
                              ty: Int, tx0: Int, cols: Int, bias: Float, scratch s: UnsafeMutablePointer<F8>,
                              stage: UnsafeMutablePointer<Float>, epilogue: Epilogue = Epilogue()) {
        let y = s + 24  // Aᵀ M is s[0..<24] (4×6), then y (4×4, lane = tile)
        let b = F8(repeating: bias)
        let sw = stageStride(tiles: cols)
        for xi in 0..<36 {
            (stage + xi * sw).update(from: m + xi * step, count: cols)
            // The lanes past the last tile are computed but never written; zero keeps them finite.
            (stage + xi * sw + cols).update(repeating: 0, count: sw - cols)
        }
        var k = 0
        while k < cols {
            let lanes = Swift.min(8, cols - k)
            @inline(__always) func mv(_ xi: Int) -> F8 { VectorMath.load(stage + xi * sw + k) }
            for j in 0..<6 {
                let col = at(mv(j), mv(6 + j), mv(12 + j), mv(18 + j), mv(24 + j), mv(30 + j))
                s[j] = col.0; s[6 + j] = col.1; s[12 + j] = col.2; s[18 + j] = col.3
            }
            for i in 0..<4 {
                let row = at(s[i * 6], s[i * 6 + 1], s[i * 6 + 2], s[i * 6 + 3], s[i * 6 + 4], s[i * 6 + 5])
                y[i * 4] = row.0 + b; y[i * 4 + 1] = row.1 + b; y[i * 4 + 2] = row.2 + b; y[i * 4 + 3] = row.3 + b
            }
            // Interleave the 4 phases back into picture rows: y[i][q] lane l is pixel 4(tx0 + k + l) + q.
            let first = 4 * (tx0 + k)
            for i in 0..<4 {
                let oy = ty * 4 + i
                guard oy < h else { break }
                let line = plane + oy * w
                let residual = epilogue.residual.map { $0 + oy * w }
                if lanes == 8 && first + 32 <= w {
                    interleave32(y + i * 4, into: line + first, adding: residual.map { $0 + first }, relu: epilogue.relu)
                } else {
                    for lane in 0..<lanes {
                        for q in 0..<4 where first + 4 * lane + q < w {
                            var value = y[i * 4 + q][lane]
                            if let residual { value += residual[first + 4 * lane + q] }
                            if epilogue.relu { value = Swift.max(value, 0) }
                            line[first + 4 * lane + q] = value
                        }
                    }
                }
            }
            k += 8
        }
    }

    /// Splits 32 consecutive values into their 4 phases: `dst[q · stride + k] = src[4k + q]`
    /// for k < 8. Written as lane selections from two 16-lane loads, which LLVM turns into
    /// AVX-512 permutes: the element-by-element loop it replaces was about a third of the input
    /// transform of the 64-channel TAESD layers.
    @inline(__always)
    static func deinterleave32(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, stride: Int) {
        let raw = UnsafeRawPointer(src)
        let a = raw.loadUnaligned(as: SIMD16<Float>.self), b = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        VectorMath.store(F8(a[0], a[4], a[8], a[12], b[0], b[4], b[8], b[12]), dst)
        VectorMath.store(F8(a[1], a[5], a[9], a[13], b[1], b[5], b[9], b[13]), dst + stride)
        VectorMath.store(F8(a[2], a[6], a[10], a[14], b[2], b[6], b[10], b[14]), dst + 2 * stride)
        VectorMath.store(F8(a[3], a[7], a[11], a[15], b[3], b[7], b[11], b[15]), dst + 3 * stride)
    }

    /// The inverse of `deinterleave32`: `dst[4k + q] = y[q][k]` for the 4 phases of 8 tiles,
    /// read from memory as two 16-lane loads (from vectors in registers LLVM built the result
    /// lane by lane; from loads it emits two permutes), with `residual`'s 32 values at the same
    /// place added and the ReLU applied when asked (the `Epilogue`).
    @inline(__always)
    static func interleave32(_ y: UnsafePointer<F8>, into dst: UnsafeMutablePointer<Float>, adding residual: UnsafePointer<Float>? = nil,
                             relu: Bool = false) {
        let raw = UnsafeRawPointer(y)
        let p = raw.loadUnaligned(as: SIMD16<Float>.self), q = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        var lo = SIMD16<Float>(p[0], p[8], q[0], q[8], p[1], p[9], q[1], q[9], p[2], p[10], q[2], q[10], p[3], p[11], q[3], q[11])
        var hi = SIMD16<Float>(p[4], p[12], q[4], q[12], p[5], p[13], q[5], q[13], p[6], p[14], q[6], q[14], p[7], p[15], q[7], q[15])
        if let residual {
            let r = UnsafeRawPointer(residual)
            lo += r.loadUnaligned(as: SIMD16<Float>.self)
            hi += r.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        }
        if relu {
            lo.replace(with: 0, where: lo .< 0)
            hi.replace(with: 0, where: hi .< 0)
        }
        let out = UnsafeMutableRawPointer(dst)
        out.storeBytes(of: lo, as: SIMD16<Float>.self)
        out.storeBytes(of: hi, toByteOffset: 64, as: SIMD16<Float>.self)
    }
}

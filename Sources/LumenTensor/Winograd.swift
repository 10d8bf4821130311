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
/// Transforms run vectorised across 8 tiles of one row (`WinogradTransforms.swift`). Two ways
/// to schedule them:
/// - **fused** (up to 256 channels, when all transformed filters fit one buffer): each core takes
///   blocks of 64 tiles and runs input transform, the 36 products and output transform on them,
///   so the transformed tiles and products stay in its cache. At 64–128 channels the transforms
///   cost more than the products, and streaming them through memory was most of the time. Same
///   binary, `LUMEN_WINOGRAD_FUSED_CHANNELS=0` against the default, random SD-Turbo, bf16: SD VAE
///   decode at 512² 6.86–6.95 → 5.52–5.72 s (two alternating pairs); TAESD 512² 0.93 → 0.45–0.51 s. Fusing the wider layers too (up to 1280)
///   was slower (VAE 5.5 s, UNet step +0.3 s), as were 32-tile blocks; 128 tiles measured the same.
/// - **chunked** (wider layers): all cores transform a chunk of whole tile rows, the 36 products
///   run multi-threaded, then all cores transform back. Chunks keep the transformed buffers ≤ 8 MB
///   each whatever the picture size; measured on the TAESD decoder at 256², 8 MB chunks decode as
///   fast as 32 MB ones with 64 MB less peak memory.
///
/// With bf16 products on (`BF16Matmul.winogradWorthIt`) both transforms write bf16 and the 36
/// products of a block or chunk are one batched oneDNN call: nothing is converted per product.
public enum Winograd {
    /// What the output transform does to each result before writing it: add the value at the
    /// same place of `residual` (NCHW, the output's shape), then clamp at zero when `relu`. Done
    /// as the results are written, this saves the passes over the whole output that a residual
    /// block's addition and ReLU made (TAESD's blocks: `relu(conv(…) + x)`).
    struct Epilogue {
        var residual: UnsafePointer<Float>? = nil
        var relu = false

        /// The epilogue for one output plane starting at `offset` (the residual moved there).
        func plane(_ offset: Int) -> Epilogue { Epilogue(residual: residual.map { $0 + offset }, relu: relu) }
    }

    /// On unless `LUMEN_WINOGRAD=0` (for measuring against the direct path).
    public static let enabled: Bool = getenvString("LUMEN_WINOGRAD") != "0"

    /// Whether `conv2d` should take this path: 3×3, stride 1, padding 1, enough channels for the
    /// GEMMs to dominate the transforms.
    ///
    /// Small pictures stay on im2col: with few tiles the 36 GEMMs are narrow and bound by reading
    /// the transformed filters (4× the weight), and in fp32 the filters are transformed on every
    /// call (`DerivedWeightCache` keeps them only in bf16). Measured on the SD UNet (SD-Turbo, kernel profiler, same
    /// process alternating), with the vectorised filter transform and the blocked filter buffer:
    /// at 32×32 latents Winograd beats im2col for every layer (256²: 0.61–0.68 → 0.33–0.41 s for
    /// the 32² convolutions of a step; 512²: 2.2–2.5 → 1.3–1.6 s); at 16×16 (16 tiles per image)
    /// it loses (0.54 → 0.77 s). The VAE decoder (64² to 512²) is 1.8× faster with it.
    static func applies(c: Int, o: Int, kh: Int, kw: Int, stride: Int, padding: NN.Padding, h: Int, w: Int) -> Bool {
        kh == 3 && kw == 3 && stride == 1 && padding == .same(1) && c >= minimumChannels && o >= minimumChannels && h * w >= minimumPixels
    }

    /// Whether Winograd beats oneDNN's direct bf16 convolution for this layer, both available.
    /// Winograd does 4× fewer multiplications but transforms the whole filter bank (36·O·C) per
    /// call unless the transformed filters are kept (`filterCache`, within the
    /// `DerivedWeightCache` budget): transformed per call it wins only with enough tiles to share
    /// that cost. Measured per call at 512² in the SD UNet (kernel profiler, one process each
    /// way): at 64×64 latents (256 tiles) Winograd 17.3 / 31.5 / 62.3 ms against direct
    /// 20.0 / 36.6 / 71.5 ms (320→320, 640→320, 640→640); at 32×32 with one image (64 tiles)
    /// direct won then, 20.6 / 68.7 / 53.9 ms against 24.2 / 95.5 / 69.7 (640→640, 1280→1280,
    /// 1920→640), and the guided batch's 128 tiles win now (`minimumUncachedTiles`). With the
    /// filters kept Winograd wins at 32×32 too (12.3 ms for 640→640). `LUMEN_WINOGRAD_UNCACHED_TILES`
    /// moves the threshold, for measuring.
    static func beatsDirect(n: Int, h: Int, w: Int, c: Int, o: Int, filterCache: DerivedWeightCache) -> Bool {
        n * ((h + 3) / 4) * ((w + 3) / 4) >= minimumUncachedTiles || filterCache.isFilled
            || (BF16Matmul.winogradWorthIt(m: o, n: minimumChunkTiles, k: c) && DerivedWeightCache.wouldFit(36 * o * c * 2))
    }

    /// Floats (bf16 pairs) of transformed filters a call may hold whole, beyond the scratch
    /// pool's limit: 64 MiB, a 1280→1280 bank (`LUMEN_WINOGRAD_WHOLE_BANK_MB` overrides).
    static let wholeBankFloats: Int = (Int(getenvString("LUMEN_WINOGRAD_WHOLE_BANK_MB") ?? "") ?? 64) << 18

    /// Fewest tiles (over the batch) at which Winograd with its filters transformed per call beats
    /// oneDNN's direct convolution (see `beatsDirect`).
    ///
    /// 128: the guided batch at 32×32 latents (2 × 64 tiles) is Winograd's. Random SD-Turbo,
    /// 512², one guided UNet call (`lumen bench --guidance 2`), same binary, two alternating
    /// rounds: 4.53–4.56 s with 256, 3.87–4.13 s with 128; kernel profiler, the 32×32 3×3
    /// convolutions of one call 0.57 s direct → 0.35 s (640→640 at batch 2: 33.6 → 22.3 ms, its
    /// filter transform 7.9 ms of that). At batch 1 (64 tiles) it measured even (0.26–0.31 s
    /// either way), so one picture without guidance stays direct.
    static let minimumUncachedTiles: Int = Int(getenvString("LUMEN_WINOGRAD_UNCACHED_TILES") ?? "") ?? 128

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

    /// Tiles per block of the fused path (`LUMEN_WINOGRAD_BLOCK_TILES` overrides).
    static let blockTiles: Int = Int(getenvString("LUMEN_WINOGRAD_BLOCK_TILES") ?? "") ?? 64

    /// Most input or output channels that take the fused path (`LUMEN_WINOGRAD_FUSED_CHANNELS`
    /// overrides; 0 turns it off).
    static let fusedMaximumChannels: Int = Int(getenvString("LUMEN_WINOGRAD_FUSED_CHANNELS") ?? "") ?? 256

    /// `y = conv2d(x, weight, bias, stride 1, padding 1)` for NCHW `x` and `[O, C, 3, 3]` weights.
    ///
    /// `weightRows(range, body)` calls `body` with the fp32 filters of output channels `range`
    /// (`[range.count, C, 3, 3]`): a stored fp16 bank is widened one block at a time, so no fp32
    /// copy of a whole 1280→1280 bank (59 MB) is made. `filterBlockFloats`, `chunkRows`,
    /// `blockTiles` and `fusedChannels` override the blocking and the choice between the fused and
    /// the chunked path (tests use them to take every loop path on small inputs).
    static func conv3x3(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
                        weightRows: (Range<Int>, (UnsafePointer<Float>) -> Void) -> Void, o: Int, bias: UnsafePointer<Float>?,
                        out: UnsafeMutablePointer<Float>,
                        filterBlockFloats: Int = ScratchPool.maximumPooledFloats, chunkRows: Int? = nil,
                        blockTiles: Int = Winograd.blockTiles, fusedChannels: Int = Winograd.fusedMaximumChannels,
                        filterCache: DerivedWeightCache? = nil, epilogue: Epilogue = Epilogue()) {
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
        // Transformed filters cached with the weight (bf16, the whole bank): when the products
        // of the whole bank would run in bf16, later calls skip the filter transform.
        let cachedFused = max(c, o) <= fusedChannels
        let cached: UnsafePointer<UInt16>? = filterCache.flatMap { cache in
            guard BF16Matmul.winogradWorthIt(m: o, n: cachedFused ? Swift.min(blockTiles, totalRows * tilesX) : capacity, k: c) else {
                return nil
            }
            return cache.filters(count: 36 * o * c) { u16 in
                OpProfiler.measure("  winograd filter transform \(c)→\(o) (cached)") {
                    weightRows(0..<o) { transformWeights($0, o: o, c: c, into: BFloat16Sink(base: u16)) }
                }
            }
        }
        // A bank whose products run in bf16 is transformed whole (half the floats) when it fits
        // `wholeBankFloats`, beyond the pool's limit: in blocks, every chunk of tile rows
        // transformed it again, 4–8 times per call for the SD VAE decoder's 512→512 layers at
        // 128² and 256², 0.2 s of a 512² decode.
        // (A smaller `filterBlockFloats`, as tests pass to take the blocked path, still applies.)
        let wholeLimit = filterBlockFloats < ScratchPool.maximumPooledFloats ? filterBlockFloats : Swift.max(filterBlockFloats, wholeBankFloats)
        let wholeBF16 = cached == nil && (36 * o * c + 1) / 2 <= wholeLimit
            && BF16Matmul.winogradWorthIt(m: o, n: max(c, o) <= fusedChannels ? Swift.min(blockTiles, totalRows * tilesX) : capacity, k: c)
        let oBlock = cached != nil || wholeBF16 ? o : Swift.max(1, Swift.min(o, filterBlockFloats / (36 * c)))
        let wholeU = oBlock == o
        let fused = wholeU && max(c, o) <= fusedChannels
        // bf16: both transforms write bf16 and the 36 products of a block or chunk are one batched
        // oneDNN call, so nothing is converted per product. Decided once per call, before any
        // work, from the products' size on the path taken.
        let bf16 = cached != nil || BF16Matmul.winogradWorthIt(m: oBlock, n: fused ? Swift.min(blockTiles, totalRows * tilesX) : capacity, k: c)
        // Buffers in floats; bf16 ones take half and are rebound below. None with cached filters.
        let uFloats = cached != nil ? 0 : bf16 ? (36 * oBlock * c + 1) / 2 : 36 * oBlock * c
        ScratchPool.withBuffer(uFloats) { u in
        let u16w = bf16 && cached == nil ? UnsafeMutableRawPointer(u).bindMemory(to: UInt16.self, capacity: 2 * uFloats) : nil
        let u16 = cached ?? u16w.map { UnsafePointer($0) }
        func transformFilters(_ range: Range<Int>) {
            OpProfiler.measure("  winograd filter transform \(c)→\(o)") {
                weightRows(range) { w in
                    if let u16w {
                        transformWeights(w, o: range.count, c: c, into: BFloat16Sink(base: u16w))
                    } else {
                        transformWeights(w, o: range.count, c: c, into: Float32Sink(base: u))
                    }
                }
            }
        }
        if wholeU && cached == nil { transformFilters(0..<o) }
        if fused {
            fusedBlocks(x, n: n, c: c, h: h, w: w, o: o, bias: bias, out: out, u: u, u16: u16,
                        tilesX: tilesX, tilesY: tilesY, blockTiles: blockTiles, epilogue: epilogue)
            return
        }
        let vFloats = bf16 ? (36 * c * capacity + 1) / 2 : 36 * c * capacity
        ScratchPool.withBuffer(vFloats) { v in
        ScratchPool.withBuffer(36 * oBlock * capacity) { m in
        let v16 = bf16 ? UnsafeMutableRawPointer(v).bindMemory(to: UInt16.self, capacity: 2 * vFloats) : nil
        var row0 = 0
        while row0 < totalRows {
            let rows = Swift.min(rowsPerChunk, totalRows - row0)
            let t = rows * tilesX
            OpProfiler.measure("  winograd input transform \(c) @\(h)×\(w)") {
                if let v16 {
                    inputTransform(x, c: c, h: h, w: w, tilesX: tilesX, tilesY: tilesY, row0: row0, rows: rows,
                                   v: BFloat16Sink(base: v16), t: t)
                } else {
                    inputTransform(x, c: c, h: h, w: w, tilesX: tilesX, tilesY: tilesY, row0: row0, rows: rows,
                                   v: Float32Sink(base: v), t: t)
                }
            }
            var o0 = 0
            while o0 < o {
                let ob = Swift.min(oBlock, o - o0)
                if !wholeU { transformFilters(o0..<o0 + ob) }
                OpProfiler.measure("  winograd GEMMs \(c)→\(o) @\(h)×\(w)\(bf16 ? " (bf16)" : "")") {
                    products(u, u16, v, v16, o: ob, t: t, c: c, into: m)
                }
                OpProfiler.measure("  winograd output transform \(o) @\(h)×\(w)") {
                    outputTransform(m, o: ob, outChannels: o, firstChannel: o0, h: h, w: w, tilesX: tilesX, tilesY: tilesY,
                                    row0: row0, rows: rows, t: t, bias: bias, out: out, epilogue: epilogue)
                }
                o0 += ob
            }
            row0 += rows
        }
        }
        }
        }
    }

    /// `M[ξ] = U[ξ] · V[ξ]` for the 36 ξ (`o × c` by `c × t`): in bf16 as one batched oneDNN call
    /// when the transforms wrote bf16 (`u16`, `v16`), else 36 sgemms.
    static func products(_ u: UnsafePointer<Float>, _ u16: UnsafePointer<UInt16>?, _ v: UnsafePointer<Float>,
                         _ v16: UnsafePointer<UInt16>?, o: Int, t: Int, c: Int, into m: UnsafeMutablePointer<Float>) {
        if let u16, let v16 {
            // oneDNN failing to run a primitive it compiled is not expected; if it does, the
            // operands are widened and the fp32 path runs.
            if !BF16Matmul.batchedGemm(batch: 36, m: o, n: t, k: c, a: u16, b: v16, c: m) {
                widenedProducts(u16, v16, ob: o, t: t, c: c, into: m)
            }
        } else {
            for xi in 0..<36 {
                BLAS.gemm(m: o, n: t, k: c, a: u + xi * o * c, lda: c, b: v + xi * c * t, ldb: t, c: m + xi * o * t, ldc: t)
            }
        }
    }

    /// The 36 products from bf16 operands widened to fp32 (exact), for when oneDNN cannot run them.
    static func widenedProducts(_ u: UnsafePointer<UInt16>, _ v: UnsafePointer<UInt16>, ob: Int, t: Int, c: Int,
                                into m: UnsafeMutablePointer<Float>) {
        func widen(_ p: UnsafePointer<UInt16>, _ count: Int) -> [Float] {
            (0..<count).map { Float(bitPattern: UInt32(p[$0]) << 16) }
        }
        for xi in 0..<36 {
            let a = widen(u + xi * ob * c, ob * c), b = widen(v + xi * c * t, c * t)
            BLAS.gemm(m: ob, n: t, k: c, a: a, lda: c, b: b, ldb: t, c: m + xi * ob * t, ldc: t)
        }
    }

    /// The fused path: each core takes blocks of about `blockTiles` tiles and runs all three
    /// steps on them — input transform of every channel, the 36 products on that core alone,
    /// output transform — so the transformed tiles and products stay in its own cache. The
    /// chunked path streams them through memory: its transforms, not its products, were most of
    /// the time at 64–128 channels (SD VAE decoder at 512², 128 channels, bf16 products: GEMMs
    /// 1.0 s, input and output transforms 3.0 s per two decodes). `u`/`u16` hold all the
    /// transformed filters (fp32, or bf16 when the products run in bf16).
    static func fusedBlocks(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, o: Int, bias: UnsafePointer<Float>?,
                            out: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, u16: UnsafePointer<UInt16>?,
                            tilesX: Int, tilesY: Int, blockTiles: Int, epilogue: Epilogue) {
        let cols = Swift.min(tilesX, Swift.max(1, blockTiles))
        let rowsPerBlock = Swift.max(1, blockTiles / cols)
        let totalRows = n * tilesY
        let colBlocks = (tilesX + cols - 1) / cols
        let blocks = (totalRows + rowsPerBlock - 1) / rowsPerBlock * colBlocks
        let capacity = rowsPerBlock * cols
        let stride = phaseStride(tiles: cols)
        let vFloats = u16 != nil ? (36 * c * capacity + 1) / 2 : 36 * c * capacity
        let label = "  winograd fused \(c)→\(o) @\(h)×\(w)\(u16 != nil ? " (bf16)" : "")"
        OpProfiler.measure(label) {
            BLAS.singleThreaded {
                parallelChunks(blocks, minChunk: 1) { range in
                    ScratchPool.withBuffer(vFloats) { v in
                    ScratchPool.withBuffer(36 * o * capacity + 24 * stride) { m in
                        let phases = m + 36 * o * capacity
                        let vectors = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 40)
                        let stage = UnsafeMutablePointer<Float>.allocate(capacity: stageFloats(tiles: cols))
                        defer { vectors.deallocate(); stage.deallocate() }
                        let v16 = u16 != nil ? UnsafeMutableRawPointer(v).bindMemory(to: UInt16.self, capacity: 2 * vFloats) : nil
                        for block in range {
                            let rb = block / colBlocks, cb = block % colBlocks
                            let r0 = rb * rowsPerBlock, rows = Swift.min(rowsPerBlock, totalRows - r0)
                            let tx0 = cb * cols, bc = Swift.min(cols, tilesX - tx0)
                            let t = rows * bc
                            OpProfiler.measure("    fused input (core-s) \(c)") {
                            for ic in 0..<c {
                                for rr in 0..<rows {
                                    let image = (r0 + rr) / tilesY, ty = (r0 + rr) % tilesY
                                    let plane = x + (image * c + ic) * h * w
                                    if let v16 {
                                        inputTileRow(plane, h: h, w: w, ty: ty, tx0: tx0, cols: bc, phases: phases, stride: stride,
                                                     e: vectors, stage: stage, into: BFloat16Sink(base: v16), offset: ic * t + rr * bc, step: c * t)
                                    } else {
                                        inputTileRow(plane, h: h, w: w, ty: ty, tx0: tx0, cols: bc, phases: phases, stride: stride,
                                                     e: vectors, stage: stage, into: Float32Sink(base: v), offset: ic * t + rr * bc, step: c * t)
                                    }
                                }
                            }
                            }
                            OpProfiler.measure("    fused products (core-s) \(c)") {
                            products(u, u16, v, v16, o: o, t: t, c: c, into: m)
                            }
                            OpProfiler.measure("    fused output (core-s) \(o)") {
                            for oc in 0..<o {
                                for rr in 0..<rows {
                                    let image = (r0 + rr) / tilesY, ty = (r0 + rr) % tilesY
                                    outputTileRow(m + oc * t + rr * bc, step: o * t, out + (image * o + oc) * h * w, h: h, w: w,
                                                  ty: ty, tx0: tx0, cols: bc, bias: bias?[oc] ?? 0, scratch: vectors, stage: stage,
                                                  epilogue: epilogue.plane((image * o + oc) * h * w))
                                }
                            }
                            }
                        }
                    }
                    }
                }
            }
        }
    }
}

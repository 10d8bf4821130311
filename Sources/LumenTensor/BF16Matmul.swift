import CLumenKernels
import CDNNL
import COpenBLAS
import Foundation

/// Matrix products in bfloat16 with fp32 accumulation, through oneDNN's matmul primitive (its
/// brgemm kernels use AVX512-BF16's `vdpbf16ps`, two multiply-adds per fp32 lane), for CPUs that
/// have it. OpenBLAS 0.3.21 as Debian builds it has no `sbgemm`, and oneDNN is the library
/// PyTorch's own bf16 CPU path runs on.
///
/// fp32 operands are rounded to bf16 (round to nearest even) just before each product; the
/// result and its accumulation stay fp32, as under `torch.autocast("cpu", dtype=torch.bfloat16)`.
/// Measured against OpenBLAS's sgemm on a 2-core AMD EPYC with AVX512-BF16 by a throwaway C
/// harness (not kept; both operands converted per call, one run side by side): 320×4096×2880 1.84×, 4096×1280×320 1.71×, 640×1024×5760 1.63×,
/// 4096×4096×64 1.99×, 4096×320×320 1.42×, 320×256×320 1.21×, and 1280×64×11520 0.82× — so
/// only products of at least `minimumMultiplyAdds`, outputs at least `minimumSide` each way and
/// sums over at least `minimumDepth` terms go here. GEMM weights are kept in bf16 from load
/// (`bfloat16(fromHalf:)`), so only activations are converted per call, and attention converts
/// its operands once per call (`NN.attentionBF16`). Whole model, random SD-Turbo, same machine,
/// medians of 3 alternating single runs, fp32 → bf16: UNet step 512² 5.12 → 4.06 s, 256²
/// 1.55 → 1.17 s; 512² TAESD generation 6.71 → 5.26 s; SD VAE decode 512² 11.7 → 8.4 s (one pair)
/// — measured at 05922b2 by `LUMEN_BF16=0` / unset `lumen bench` (later work moved both sides;
/// docs/benchmarks-avx512-bf16.md has the current figures).
///
/// On by default where the CPU reports `avx512_bf16` and a bf16 product measures faster than
/// OpenBLAS's fp32 one here (`probe`; `LUMEN_BF16=0`: fp32 everywhere, the engine's exact parity
/// with diffusers' fp32; `LUMEN_BF16=1`: on without measuring); elsewhere oneDNN would only
/// emulate bf16 and it stays off. It trades exactness (relative error ~2·10⁻³ per product) for speed, as PyTorch's
/// bf16 autocast does: the parity tests run with it off, and tests bound what it does to a
/// product, an attention and a picture (PSNR ≥ 40 dB against fp32).
public enum BF16Matmul {
    /// Whether products are sent here at all.
    public static let enabled: Bool = {
        guard cpuHasAVX512BF16 else { return false }
        switch getenvString("LUMEN_BF16") {
        case "0": return false
        case "1": return true
        default: return probe.map { $0.bf16 < $0.fp32 } ?? false
        }
    }()

    /// Why products run in the precision they do, for `lumen bench` and logs.
    public static var choice: String {
        guard cpuHasAVX512BF16 else { return "fp32 (no AVX512-BF16)" }
        switch getenvString("LUMEN_BF16") {
        case "0": return "fp32 (LUMEN_BF16=0)"
        case "1": return "bf16 products (LUMEN_BF16=1)"
        default:
            guard let probe else { return "fp32 (oneDNN could not run a bf16 product)" }
            let ratio = String(format: "%.2f", probe.fp32 / probe.bf16)
            return enabled ? "bf16 products (\(ratio)× fp32 here)" : "fp32 (bf16 products \(ratio)× fp32 here)"
        }
    }

    /// The fastest of five runs of one 512³ product, in seconds, in bf16 through oneDNN and in
    /// fp32 through OpenBLAS, both on the calling thread alone, alternating (nil when oneDNN
    /// cannot run it). One core each: on all cores the two libraries' thread pools, each spinning
    /// a while after its product, took a core from the other's next run, and the ratio measured
    /// 0.29× and 1.11× in two runs on the same machine.
    ///
    /// AVX512-BF16 alone does not make bf16 faster. On a 2-core AMD EPYC (Zen 4) bf16 products
    /// ran 1.2–2× OpenBLAS's fp32 (see above), but on a 2-core Intel Xeon (Emerald Rapids, no AMX
    /// exposed to the VM) at half its rate: PyTorch's GEMM peaks measured 178 GFLOP/s bf16 and
    /// 334 fp32 (`bench/run_bench.py`), and Lumen's random SD-Turbo UNet step at 512² took
    /// 4.26–4.59 s with bf16 products against 3.64–3.68 s in fp32 (`lumen bench --runs 2`). The
    /// two are about 2× apart either way, so one mid-sized product (0.27 GFLOP, 1–3 ms on one
    /// core; ~30 ms once per process with oneDNN's compile) tells them apart.
    static let probe: (bf16: Double, fp32: Double)? = {
        _ = BLAS.configured
        let size = 512
        let count = size * size
        let a = (0..<count).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let b = (0..<count).map { Float(($0 * 104_729) % 1000) / 1000 - 0.5 }
        let a16 = a.map { bfloat16(bits: $0.bitPattern) }, b16 = b.map { bfloat16(bits: $0.bitPattern) }
        var c = [Float](repeating: 0, count: count)
        let key = Key(m: size, n: size, k: size, lda: size, ldb: size, ldc: size, transA: false, transB: false,
                      alpha: 1, beta: 0, singleThreaded: true)
        func seconds(_ body: () -> Bool) -> Double? {
            let start = DispatchTime.now().uptimeNanoseconds
            guard body() else { return nil }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        let bf16Run = { a16.withUnsafeBufferPointer { pa in b16.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { run(key, a: pa.baseAddress!, b: pb.baseAddress!, c: $0.baseAddress!) } } } }
        let fp32Run = { () -> Bool in
            BLAS.singleThreaded {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(size), 1, a, Int32(size),
                            b, Int32(size), 0, &c, Int32(size))
            }
            return true
        }
        // The first run of each compiles (oneDNN) or starts threads and touches pages.
        guard seconds(bf16Run) != nil, seconds(fp32Run) != nil else { return nil }
        var best = (bf16: Double.infinity, fp32: Double.infinity)
        for _ in 0..<5 {
            guard let t16 = seconds(bf16Run), let t32 = seconds(fp32Run) else { return nil }
            best = (Swift.min(best.bf16, t16), Swift.min(best.fp32, t32))
        }
        return best
    }()

    /// For tests, within one task: `true` sends every product (any size) here, `false` none.
    @TaskLocal public static var forced: Bool?

    /// Whether this CPU has AVX512-BF16 (oneDNN's bf16 kernels need it; elsewhere it emulates).
    public static let cpuHasAVX512BF16: Bool = CPUFeatures.has("avx512_bf16")

    /// Whether Lumen's own AVX512-BF16 kernels (`CLumenKernels`: `WeightStreaming`,
    /// `NN.attentionFlash`) can run here: built with them, and the CPU has AVX-512 and AVX512-BF16.
    public static let ownKernelsAvailable: Bool = lumen_bf16_kernels_built() != 0 && cpuHasAVX512BF16 && CPUFeatures.avx512

    /// Products smaller than this many multiply-adds stay in fp32, also those whose weight is
    /// already bf16: below it oneDNN's per-call cost (memory objects, a stream, a scratchpad)
    /// outweighs the faster kernel — at 1M the built-in 32×32 model's guided 8-step generation
    /// went from 0.98 s to 1.16 s.
    static let minimumMultiplyAdds = 1 << 22
    /// Products with an output side shorter than this stay in fp32: both operands are converted
    /// on every call, so thin products lose (Winograd's 640→640 products at 32², 64 tiles wide,
    /// went from 0.43 s to 0.58 s per 512² step when they were converted per product; Winograd
    /// now writes bf16 itself and asks `winogradWorthIt`).
    static let minimumSide = 128
    /// Products summing over fewer terms than this stay in fp32 (Winograd's 64-channel products
    /// at 512², K = 64: 0.79 s → 0.92 s, conversion costing more than the faster product saves).
    static let minimumDepth = 256

    /// A product's shape, bf16 operand strides, scalars, and whether it runs on the calling
    /// thread alone (inside a task of `parallelFor`) or on oneDNN's own threads.
    struct Key: Hashable {
        var m, n, k, lda, ldb, ldc: Int
        var transA, transB: Bool
        var alpha, beta: Float
        var singleThreaded: Bool
        /// Products stacked along a leading dimension (dense operands, one oneDNN call for all).
        var batch = 1
        /// Whether a bias row (`n` values, added to every row of C) is passed.
        var bias = false
        /// An activation applied to each result (after the bias) as oneDNN's eltwise post-op.
        var activation: NN.Activation? = nil
        /// Whether B is a weight kept in the layout oneDNN picks for this product (`linearPacked`).
        var packedB = false
    }

    private struct Compiled {
        var primitive: dnnl_primitive_t
        /// The primitive's work memory, passed per execution (user scratchpad mode), so one
        /// primitive may run on several threads at once.
        var scratchpad: dnnl_memory_desc_t
        var scratchpadBytes: Int
        /// With `Key.packedB`: B's layout, and the reorder that packs a plain weight into it.
        var packed: PackedWeights? = nil
    }

    /// The layout oneDNN picked for a product's weight, and how to get there from the plain one.
    private struct PackedWeights {
        var desc: dnnl_memory_desc_t
        var bytes: Int
        var layout: [Int64]
        var plain: dnnl_memory_desc_t
        var reorder: dnnl_primitive_t
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var engine: dnnl_engine_t?
        var compiled: [Key: Compiled] = [:]
        var unsupported: Set<Key> = []
        var broken = false
    }
    private static let state = State()

    /// Multiply-adds per product from which attention runs in bf16 (`LUMEN_ATTENTION_BF16_MIN`
    /// overrides, for measuring).
    static let attentionMinimum: Int = Int(getenvString("LUMEN_ATTENTION_BF16_MIN") ?? "") ?? 1 << 24

    /// Whether attention over `lq` queries and `lk` keys, `dim` channels over all heads, runs its
    /// products in bf16: its operands are converted once per call, so only the work matters.
    /// From 2²⁸ multiply-adds per product (the SD UNet's 1024 tokens at 640 channels and up):
    /// 4096 tokens went 0.20 → 0.12 s per SD UNet call at 512² when this came in; 1024 tokens at
    /// 640 channels gained 10 % then, before the probabilities were written as bf16 directly
    /// (`VectorMath.softmaxNumeratorsBase2`). From 2²⁴ since a Zen 5 EPYC, where bf16 products
    /// run 3.9× OpenBLAS's fp32 (against ~2× on Zen 4): random SD-Turbo at 256², 50 calls each,
    /// two alternating pairs, 256×256 tokens at 640 channels 0.047–0.052 → 0.025–0.029 s and
    /// 1024×77 at 320 0.039–0.046 → 0.029–0.031 s; 256×77 at 640 (2^23.6) timed even, and 64
    /// tokens at 1280 (2^22.3–2^22.6) lost (0.009–0.013 → 0.017–0.022 s: oneDNN's per-call cost
    /// on tiny tiles), so they stay fp32, as does the built-in model's attention (≤ 256 tokens,
    /// ≤ 192 channels).
    static func attentionWorthIt(lq: Int, lk: Int, dim: Int) -> Bool {
        if let forced { return forced }
        return enabled && lq * lk * dim >= attentionMinimum
    }

    /// Whether a product of this size goes to bf16 (`forced` decides alone when set). With a
    /// weight already in bf16 only the other side is converted, and much smaller products win:
    /// 77×1024×1024 (the text encoder) 2.4×, 64×1280×1280 2.1×, 1280×64×11520-like 64×640×5760
    /// 2.1×, against OpenBLAS's sgemm on this machine (same throwaway harness).
    static func worthIt(m: Int, n: Int, k: Int, weightInBF16: Bool = false) -> Bool {
        if let forced { return forced }
        guard enabled, m * n * k >= minimumMultiplyAdds else { return false }
        if weightInBF16 { return Swift.min(m, n, k) >= 16 }
        return m >= minimumSide && n >= minimumSide && k >= minimumDepth
    }

    /// One side of a product as stored: fp32 (rounded to bf16 per call) or bf16 already (a
    /// weight kept in bf16 at load), with its leading dimension.
    public enum Operand {
        case float32(UnsafePointer<Float>, ld: Int)
        case bfloat16(UnsafePointer<UInt16>, ld: Int)
    }

    /// Runs `C = alpha·op(A)·op(B) + beta·C` in bf16 when it is enabled and worth it; returns
    /// false (having done nothing) otherwise, and the caller runs the fp32 GEMM.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: .float32(a, ld: lda), b: .float32(b, ld: ldb),
             beta: beta, c: c, ldc: ldc)
    }

    /// `gemm` with either operand possibly in bf16 already (that side is not converted).
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: Operand, b: Operand, beta: Float = 0, bias: UnsafePointer<Float>? = nil,
                            activation: NN.Activation? = nil, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        func isBF16(_ o: Operand) -> Bool { if case .bfloat16 = o { return true } else { return false } }
        guard worthIt(m: m, n: n, k: k, weightInBF16: isBF16(a) || isBF16(b)) else { return false }
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        func ld16(_ o: Operand, _ cols: Int) -> Int { if case let .bfloat16(_, ld) = o { return ld } else { return cols } }
        func converted(_ o: Operand) -> Int { if case .float32 = o { return 1 } else { return 0 } }
        let key = Key(m: m, n: n, k: k, lda: ld16(a, aCols), ldb: ld16(b, bCols), ldc: ldc, transA: transA, transB: transB,
                      alpha: alpha, beta: beta, singleThreaded: false, bias: bias != nil, activation: activation)
        guard let compiled = compiled(key) else { return false }
        // The fp32 sides as stored (rows × columns with a leading dimension), made contiguous in bf16.
        let aCount = aRows * aCols * converted(a), bCount = bRows * bCols * converted(b)
        return ScratchPool.withBuffer((aCount + bCount + 1) / 2) { raw in
            let buffer = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: aCount + bCount)
            func bf16(_ o: Operand, rows: Int, cols: Int, into dst: UnsafeMutablePointer<UInt16>) -> UnsafePointer<UInt16> {
                switch o {
                case let .bfloat16(p, _): return p
                case let .float32(p, ld):
                    convert(p, rows: rows, columns: cols, ld: ld, into: dst)
                    return UnsafePointer(dst)
                }
            }
            let a16 = bf16(a, rows: aRows, cols: aCols, into: buffer)
            let b16 = bf16(b, rows: bRows, cols: bCols, into: buffer + aCount)
            return execute(compiled, key, a: a16, b: b16, c: c, bias: bias)
        }
    }

    /// `LUMEN_WINOGRAD_BF16=0` keeps Winograd's products in fp32 while other products use bf16.
    static let winogradEnabled: Bool = getenvString("LUMEN_WINOGRAD_BF16") != "0"

    /// Whether Winograd's 36 products of `m × k` transformed filters by `k × n` transformed tiles
    /// run here: its transforms then write bf16 directly (nothing converted per product) and the
    /// 36 go to oneDNN as one batched call, so only the size of each product matters, as for a
    /// weight already in bf16.
    static func winogradWorthIt(m: Int, n: Int, k: Int) -> Bool {
        if let forced { return forced }
        return enabled && winogradEnabled && 36 * m * n * k >= minimumMultiplyAdds && Swift.min(m, k) >= 16
    }

    /// `C[i] = A[i] · B[i]` for `batch` dense bf16 products stacked one after another (`A[i]`:
    /// m × k, `B[i]`: k × n, `C[i]`: m × n, fp32), in one oneDNN call on its own threads.
    /// Returns false when oneDNN cannot run it.
    static func batchedGemm(batch: Int, m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>,
                            c: UnsafeMutablePointer<Float>) -> Bool {
        run(Key(m: m, n: n, k: k, lda: k, ldb: n, ldc: n, transA: false, transB: false, alpha: 1, beta: 0,
                singleThreaded: ParallelContext.inTask, batch: batch), a: a, b: b, c: c)
    }

    /// fp16 → bf16 (through fp32, round to nearest even): GEMM weights are kept in bf16 from load
    /// when bf16 products are on, so no product converts a weight per call.
    public static func bfloat16(fromHalf half: Float16) -> UInt16 { bfloat16(bits: Float(half).bitPattern) }

    /// An fp32 bit pattern rounded to bf16, to nearest even (the scalar form of `bfloat16(_:)`).
    @inline(__always)
    static func bfloat16(bits u: UInt32) -> UInt16 { UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16) }

    /// Eight fp32 values rounded to bf16, to nearest even.
    @inline(__always)
    static func bfloat16(_ v: SIMD8<Float>) -> SIMD8<UInt16> {
        var bits = unsafeBitCast(v, to: SIMD8<UInt32>.self)
        bits &+= 0x7FFF &+ ((bits &>> 16) & 1)
        // The high halves of the eight words, lane by lane: LLVM makes this one `vpmovdw`, where
        // `SIMD8<UInt16>(truncatingIfNeeded:)` is a generic the SIL inliner left out of line in
        // the Winograd transforms (36 calls per filter block in `transformWeights`).
        let h = unsafeBitCast(bits, to: SIMD16<UInt16>.self)
        return SIMD8<UInt16>(h[1], h[3], h[5], h[7], h[9], h[11], h[13], h[15])
    }

    /// Sixteen fp32 values rounded to bf16, to nearest even (the high halves picked lane by lane,
    /// as in the eight-lane form).
    @inline(__always)
    static func bfloat16(_ v: SIMD16<Float>) -> SIMD16<UInt16> {
        var bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
        bits &+= 0x7FFF &+ ((bits &>> 16) & 1)
        let h = unsafeBitCast(bits, to: SIMD32<UInt16>.self)
        return SIMD16<UInt16>(h[1], h[3], h[5], h[7], h[9], h[11], h[13], h[15],
                              h[17], h[19], h[21], h[23], h[25], h[27], h[29], h[31])
    }

    /// `C = alpha·op(A)·op(B) + beta·C` on bf16 operands already converted, on the calling thread
    /// only (for tasks of `parallelFor`: oneDNN's OpenMP threads are not started). Returns false
    /// when oneDNN cannot run it; the caller then has to compute it another way.
    static func gemmOnThisThread(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                 a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        run(Key(m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transA: transA, transB: transB,
                alpha: alpha, beta: beta, singleThreaded: true), a: a, b: b, c: c)
    }

    /// Compiles (once) and runs the product `key` describes on bf16 operands. A single-threaded
    /// key runs on the calling thread alone: oneDNN fixes a primitive's thread count when it is
    /// created, from the creating thread's OpenMP setting, so this thread's is lowered to one
    /// around creation and execution.
    private static func run(_ key: Key, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>) -> Bool {
        let previous = key.singleThreaded ? omp_get_max_threads() : 0
        if key.singleThreaded { omp_set_num_threads(1) }
        defer { if key.singleThreaded { omp_set_num_threads(previous) } }
        guard let compiled = compiled(key) else { return false }
        return execute(compiled, key, a: a, b: b, c: c)
    }

    /// Runs a compiled product. Its memory objects, stream and scratchpad are made per call:
    /// keeping them per thread (memory handles re-set per call) measured the same within noise
    /// (attention and Winograd's per-block products at 512², 3 alternating pairs).
    private static func execute(_ compiled: Compiled, _ key: Key, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>,
                                c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil) -> Bool {
        var descA = matrixDesc(rows: key.m, columns: key.k, transposed: key.transA, type: dnnl_bf16, ld: key.lda, batch: key.batch)
        var descB = compiled.packed?.desc
            ?? matrixDesc(rows: key.k, columns: key.n, transposed: key.transB, type: dnnl_bf16, ld: key.ldb, batch: key.batch)
        var descC = matrixDesc(rows: key.m, columns: key.n, transposed: false, type: dnnl_f32, ld: key.ldc, batch: key.batch)
        var scratchDesc = compiled.scratchpad
        let scratchBytes = Swift.max(compiled.scratchpadBytes, 64)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        var memA: dnnl_memory_t?, memB: dnnl_memory_t?, memC: dnnl_memory_t?, memS: dnnl_memory_t?, memBias: dnnl_memory_t?
        var stream: dnnl_stream_t?
        defer {
            for mem in [memA, memB, memC, memS, memBias] where mem != nil { dnnl_memory_destroy(mem) }
            if stream != nil { dnnl_stream_destroy(stream) }
            scratch.deallocate()
        }
        guard dnnl_stream_create(&stream, state.engine, dnnl_stream_default_flags.rawValue) == dnnl_success,
              dnnl_memory_create(&memA, &descA, state.engine, UnsafeMutableRawPointer(mutating: a)) == dnnl_success,
              dnnl_memory_create(&memB, &descB, state.engine, UnsafeMutableRawPointer(mutating: b)) == dnnl_success,
              dnnl_memory_create(&memC, &descC, state.engine, c) == dnnl_success,
              dnnl_memory_create(&memS, &scratchDesc, state.engine, scratch) == dnnl_success else { return false }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memA), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memB),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memC), dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memS)]
        if key.bias {
            guard let bias else { return false }
            var descBias = biasDesc(key)
            guard dnnl_memory_create(&memBias, &descBias, state.engine, UnsafeMutableRawPointer(mutating: bias)) == dnnl_success else {
                return false
            }
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memBias))
        }
        if !key.singleThreaded { OpenMPTeam.noteProduct(onTeam: true) }
        guard dnnl_primitive_execute(compiled.primitive, stream, Int32(args.count), &args) == dnnl_success else { return false }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    /// The bias row of a product: `n` fp32 values broadcast over the rows (products with a bias
    /// are never batched).
    private static func biasDesc(_ key: Key) -> dnnl_memory_desc_t {
        matrixDesc(rows: 1, columns: key.n, transposed: false, type: dnnl_f32, ld: key.n)
    }

    /// A 2-D memory descriptor for a logical `rows × columns` matrix stored row-major with
    /// leading dimension `ld`, or transposed (stored as `columns × rows`).
    /// With `batch` > 1 the matrices are stacked densely along a leading dimension (each
    /// `rows · ld` values after the one before; `ld` is then the row length).
    private static func matrixDesc(rows: Int, columns: Int, transposed: Bool, type: dnnl_data_type_t, ld: Int,
                                   batch: Int = 1) -> dnnl_memory_desc_t {
        var desc = dnnl_memory_desc_t()
        // dnnl_dims_t is a C array (a 12-tuple here); pass the whole tuple's storage, never `&t.0`,
        // which may be a temporary holding one element.
        var dims: [Int64] = [Int64(rows), Int64(columns)]
        var strides: [Int64] = transposed ? [1, Int64(ld)] : [Int64(ld), 1]
        if batch > 1 {
            dims.insert(Int64(batch), at: 0)
            strides.insert(Int64(rows * columns), at: 0)
        }
        let count = Int32(dims.count)
        dims += Array(repeating: 0, count: 12 - dims.count)
        strides += Array(repeating: 0, count: 12 - strides.count)
        _ = dims.withUnsafeBufferPointer { d in
            strides.withUnsafeBufferPointer { s in dnnl_memory_desc_init_by_strides(&desc, count, d.baseAddress, type, s.baseAddress) }
        }
        return desc
    }

    /// oneDNN's CPU engine, made on first use (nil when it cannot be: bf16 products then stay off).
    static func sharedEngine() -> dnnl_engine_t? {
        state.lock.lock()
        defer { state.lock.unlock() }
        return engineLocked()
    }

    /// `sharedEngine` with the state's lock held.
    private static func engineLocked() -> dnnl_engine_t? {
        if state.broken { return nil }
        if state.engine == nil {
            guard dnnl_engine_create(&state.engine, dnnl_cpu, 0) == dnnl_success else {
                state.broken = true
                return nil
            }
        }
        return state.engine
    }

    /// The cached primitive for a key (created on first use: oneDNN picks and JIT-compiles its
    /// kernel then), or nil when oneDNN has none (remembered: no retry per call).
    private static func compiled(_ key: Key) -> Compiled? {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard engineLocked() != nil else { return nil }
        if let c = state.compiled[key] { return c }
        if state.unsupported.contains(key) { return nil }
        guard let made = make(key) else {
            state.unsupported.insert(key)
            return nil
        }
        state.compiled[key] = made
        return made
    }

    private static func make(_ key: Key) -> Compiled? {
        var descA = matrixDesc(rows: key.m, columns: key.k, transposed: key.transA, type: dnnl_bf16, ld: key.lda, batch: key.batch)
        let plainB = matrixDesc(rows: key.k, columns: key.n, transposed: key.transB, type: dnnl_bf16, ld: key.ldb, batch: key.batch)
        var descB = plainB
        if key.packedB {
            var dims: [Int64] = [Int64(key.k), Int64(key.n)] + Array(repeating: 0, count: 10)
            guard dims.withUnsafeMutableBufferPointer({ dnnl_memory_desc_init_by_tag(&descB, 2, $0.baseAddress, dnnl_bf16, dnnl_format_tag_any) })
                    == dnnl_success else { return nil }
        }
        var descC = matrixDesc(rows: key.m, columns: key.n, transposed: false, type: dnnl_f32, ld: key.ldc, batch: key.batch)
        var op = dnnl_matmul_desc_t()
        var descBias = biasDesc(key)
        let described = withUnsafeMutablePointer(to: &descBias) { dnnl_matmul_desc_init(&op, &descA, &descB, key.bias ? $0 : nil, &descC) }
        guard described == dnnl_success else { return nil }
        var attr: dnnl_primitive_attr_t?
        var postOps: dnnl_post_ops_t?
        defer { if attr != nil { dnnl_primitive_attr_destroy(attr) }; if postOps != nil { dnnl_post_ops_destroy(postOps) } }
        guard dnnl_primitive_attr_create(&attr) == dnnl_success,
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }
        if key.alpha != 1 {
            var scale = key.alpha
            guard dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale) == dnnl_success else { return nil }
        }
        if key.beta != 0 || key.activation != nil {
            guard dnnl_post_ops_create(&postOps) == dnnl_success else { return nil }
            if key.beta != 0 {
                guard dnnl_post_ops_append_sum(postOps, key.beta) == dnnl_success else { return nil }
            }
            if let activation = key.activation {
                let (kind, alpha) = activation.oneDNNKind
                guard dnnl_post_ops_append_eltwise(postOps, 1, kind, alpha, 0) == dnnl_success else { return nil }
            }
            guard dnnl_primitive_attr_set_post_ops(attr, postOps) == dnnl_success else { return nil }
        }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &op, attr, state.engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        guard let scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee else { return nil }
        var copy = scratchpad
        let bytes = Int(dnnl_memory_desc_get_size(&copy))
        var packed: PackedWeights?
        if key.packedB {
            guard let engine = state.engine, let weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)?.pointee,
                  let reorder = BF16Convolution.reorder(plainB, weights, engine: engine) else { return nil }
            packed = PackedWeights(desc: weights, bytes: BF16Convolution.size(weights), layout: BF16Convolution.layout(weights),
                                   plain: plainB, reorder: reorder)
        }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, pd) == dnnl_success, let primitive else {
            if let packed { dnnl_primitive_destroy(packed.reorder) }
            return nil
        }
        return Compiled(primitive: primitive, scratchpad: scratchpad, scratchpadBytes: bytes, packed: packed)
    }

    /// On with bf16 products unless `LUMEN_PACKED_WEIGHTS=0` (for measuring against plain weights).
    static let packedWeightsEnabled: Bool = getenvString("LUMEN_PACKED_WEIGHTS") != "0"

    /// `C = A · Wᵀ (+ bias, activation)` for fp32 `A` (`m × k`) and a `linear` weight `W`
    /// (`n × k`) kept in bf16, with `W` in the layout oneDNN's matmul picks for it (its
    /// `BA16a64b2a` blocks here: 16 columns × 64 rows, pairs of rows interleaved for `vdpbf16ps`).
    ///
    /// Given the plain weight, oneDNN's brgemm repacks it on every call; packed once and kept,
    /// that cost goes. A throwaway C harness on the 2-core Zen 5 EPYC (oneDNN 2.6, best of 30
    /// alternating calls) measured plain → packed: 64×1280×1280 0.27 → 0.19 ms, 64×10240×1280
    /// 2.47 → 1.67 ms, 77×1024×1024 (the text encoder) 0.25 → 0.15 ms, 77×4096×1024 0.91 → 0.59
    /// ms, 256×1280×1280 0.84 → 0.75 ms, 1024×640×640 0.90 → 0.76 ms.
    ///
    /// The packed form replaces the plain elements (`BF16Elements.releasePlain`, gathered back
    /// exactly by `BlockedLayout` where another path needs them), so memory does not grow, as for
    /// the convolution filters (`BF16Convolution`). False, having done nothing, when this does
    /// not apply (the weight is not bf16, the product is not worth bf16, the weight is kept for
    /// another layout, oneDNN cannot run it): the caller then multiplies another way.
    static func linearPacked(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, weight: WeightTensor, bias: UnsafePointer<Float>?,
                             activation: NN.Activation?, c: UnsafeMutablePointer<Float>) -> Bool {
        guard packedWeightsEnabled, worthIt(m: m, n: n, k: k, weightInBF16: true),
              case let .bfloat16(elements) = weight.elements else { return false }
        let key = Key(m: m, n: n, k: k, lda: k, ldb: k, ldc: n, transA: false, transB: true, alpha: 1, beta: 0,
                      singleThreaded: false, bias: bias != nil, activation: activation, packedB: true)
        guard let compiled = compiled(key), let packed = compiled.packed, let engine = state.engine else { return false }
        let packing = UncheckedSendable(packed)
        guard let kept = weight.packedWeights.form(bytes: packed.bytes, layout: packed.layout, budgeted: false, make: { dst in
            elements.withPlain { src in
                BF16Convolution.execute(packing.value.reorder, engine: engine,
                                        [(DNNL_ARG_FROM, packing.value.plain, UnsafeMutableRawPointer(mutating: src)),
                                         (DNNL_ARG_TO, packing.value.desc, dst)])
            }
        }) else { return false }
        if elements.holdsPlain, let layout = BF16Convolution.BlockedLayout(packed.desc) {
            // The layout is over B = Wᵀ (k × n); the plain weight is n × k, so n is gathered outermost.
            elements.releasePlain(keeping: kept, in: weight.packedWeights) { form, dst in
                layout.gather(form.assumingMemoryBound(to: UInt16.self), into: dst, order: [1, 0])
            }
        }
        return ScratchPool.withBuffer((m * k + 1) / 2) { raw in
            let a16 = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: m * k)
            convert(a, rows: m, columns: k, ld: k, into: a16)
            return execute(compiled, key, a: a16, b: kept.assumingMemoryBound(to: UInt16.self), c: c, bias: bias)
        }
    }

    /// fp32 → bf16 (round to nearest even) of `count` contiguous values, on the calling thread.
    static func convertOnThisThread(_ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutablePointer<UInt16>) {
        var j = 0
        // 16 lanes (one AVX-512 register; `SIMD8` stays at 256 bits), then 8.
        while j + 16 <= count {
            UnsafeMutableRawPointer(dst + j).storeBytes(of: bfloat16(VectorMath.load16(src + j)), as: SIMD16<UInt16>.self)
            j += 16
        }
        while j + 8 <= count {
            let v = VectorMath.load(src + j)
            UnsafeMutableRawPointer(dst + j).storeBytes(of: bfloat16(v), as: SIMD8<UInt16>.self)
            j += 8
        }
        while j < count {
            dst[j] = bfloat16(bits: src[j].bitPattern)
            j += 1
        }
    }

    /// fp32 → bf16 with round to nearest even, for a `rows × columns` block with leading
    /// dimension `ld`, written contiguously. Rows are split over the cores from 2¹⁷ values per
    /// core: below that, handing work to the other core cost more than the conversion (the text
    /// encoder's 77 × 1024 activations: 0.09 ms per product split, against ~0.02 ms alone).
    static func convert(_ src: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int, into dst: UnsafeMutablePointer<UInt16>) {
        let box = UncheckedSendable((UnsafeRawPointer(src), UnsafeMutableRawPointer(dst)))
        parallelChunks(rows, minChunk: Swift.max(1, (1 << 17) / Swift.max(columns, 1))) { range in
            let s = box.value.0.assumingMemoryBound(to: Float.self)
            let d = box.value.1.assumingMemoryBound(to: UInt16.self)
            for r in range { convertOnThisThread(s + r * ld, count: columns, into: d + r * columns) }
        }
    }
}

extension NN.Activation {
    /// oneDNN's eltwise algorithm and its alpha for this activation: `gelu_erf` is the exact
    /// GELU; `swish` is `x · sigmoid(alpha · x)`, so alpha 1 is SiLU and 1.702 CLIP's QuickGELU.
    var oneDNNKind: (dnnl_alg_kind_t, Float) {
        switch self {
        case .gelu: return (dnnl_eltwise_gelu_erf, 0)
        case .quickGelu: return (dnnl_eltwise_swish, 1.702)
        case .silu: return (dnnl_eltwise_swish, 1)
        case .relu: return (dnnl_eltwise_relu, 0)
        }
    }
}

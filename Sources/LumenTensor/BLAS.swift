import COpenBLAS
import Foundation

/// Matrix products through Debian's OpenBLAS (`cblas_sgemm`), the fastest well-kept fp32 GEMM
/// available here. All matrices are row-major.
public enum BLAS {
    /// Sets OpenBLAS's own thread pool once, to the number of compute threads.
    public static let configured: Bool = {
        OpenBLASKernels.correctMisdetectedCore()
        openblas_set_num_threads(Int32(ComputeThreads.count))
        return true
    }()

    /// Runs `body` with OpenBLAS on one thread, for kernels that parallelise over independent
    /// GEMMs themselves (each task's GEMM then runs inline on the task's thread, on data sized for
    /// that core's cache). OpenBLAS's thread count is process-wide (0.3.21 has no per-call or
    /// per-thread setting), so it is restored afterwards.
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        _ = configured
        guard ComputeThreads.count > 1 else { return try body() }
        threadCountLock.lock()
        defer { threadCountLock.unlock() }
        openblas_set_num_threads(1)
        let outer = lowered
        lowered = true
        defer { lowered = outer; openblas_set_num_threads(Int32(ComputeThreads.count)) }
        return try body()
    }

    /// Held while OpenBLAS's thread count is lowered (`singleThreaded`) and around every product
    /// started outside a parallel task, so no product runs while another thread changes the
    /// count under it. Generations are already one at a time (`ComputeThreads.exclusively`), but
    /// kernels called directly (tests, the evaluation's checker) are not: with the test suites
    /// running side by side, a same-seed picture from the server came back one level off in one
    /// pixel (ImagesAPITests, twice in 11 sessions). Recursive: a `singleThreaded` body may start
    /// a product on its own thread. Products inside the section's tasks run on its worker threads
    /// without taking it.
    static let threadCountLock = NSRecursiveLock()

    /// Whether OpenBLAS runs on one thread now (inside `singleThreaded`; written with
    /// `threadCountLock` held, read without it only to choose the pool of the next loop).
    nonisolated(unsafe) static var lowered = false

    /// Fewest multiply-adds for which a product started outside a parallel task may use
    /// OpenBLAS's threads while bf16 products are on (`LUMEN_BLAS_THREADED_MIN` overrides).
    ///
    /// With bf16 on, oneDNN's OpenMP team does nearly all the work, and OpenBLAS only gets the
    /// products too small for it (the 3- or 4-channel `conv_in` of the built-in model and of
    /// TAESD). Threaded, such a product woke OpenBLAS's own pool, whose worker then spins for a
    /// while waiting for more (0.3.21's thread timeout is 2²⁸ cycles), taking one of the two
    /// cores from the oneDNN products and loops that follow: a `conv_in` of the built-in model
    /// measured 0.18 ms alone and 2.3 ms in the pipeline (kernel profiler), and the whole
    /// 32×32 UNet call ran slower after it. On one thread the pool stays asleep. The built-in
    /// model, 8 guided steps (`lumen bench --runs 7`, 5 alternating rounds, same machine):
    /// medians 0.47–0.63 s → 0.37–0.55 s, most rounds 0.37–0.41 s.
    static let threadedMinimum: Int = Int(getenvString("LUMEN_BLAS_THREADED_MIN") ?? "") ?? 1 << 24

    /// `C[M×N] = alpha · op(A) · op(B) + beta · C`, with leading dimensions in elements.
    /// Large products go to `BF16Matmul` when bf16 products are on (the default on AVX512-BF16
    /// CPUs; `LUMEN_BF16=0` turns them off).
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = configured
        // Inside a parallel task the product stays on this core (oneDNN would start a team of
        // its own threads); `BF16Matmul.gemmOnThisThread` is the bf16 path there.
        if !ParallelContext.inTask && BF16Matmul.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                               b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
        let topLevel = !ParallelContext.inTask
        let alone = topLevel && !lowered && BF16Matmul.enabled && m * n * k < threadedMinimum
        // OpenBLAS threads products from 2¹⁸ multiply-adds (`interface/gemm.c`).
        if topLevel && !lowered && !alone && m * n * k >= 1 << 18 { OpenMPTeam.noteProduct(onTeam: false) }
        let product = {
            cblas_sgemm(
                CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        if alone { return singleThreaded(product) }
        if topLevel { threadCountLock.lock() }
        defer { if topLevel { threadCountLock.unlock() } }
        product()
    }
}

import COpenBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which of OpenBLAS's per-CPU kernel sets runs, corrected where OpenBLAS does not know the CPU.
///
/// Debian builds OpenBLAS with `DYNAMIC_ARCH`: at load it picks a kernel set by the CPU's vendor,
/// family and model number, and a model newer than the release falls back to `Prescott`, the
/// generic SSE3 kernels. 0.3.21 (bookworm) does not know Intel's Emerald Rapids (family 6, model
/// 207), so on such a 2-core VM every fp32 product ran at a quarter of the CPU's rate: random
/// SD-Turbo at 512², 1 step, TAESD (`LUMEN_BF16=0 lumen bench --runs 2`), UNet step 14.0–14.6 s
/// with `Prescott` against 3.64–3.68 s with `OPENBLAS_CORETYPE=SkylakeX`; OpenBLAS's fp32 GEMM
/// peak there is about 330 GFLOP/s (PyTorch's, `bench/run_bench.py`).
///
/// `OPENBLAS_CORETYPE` is read once, in OpenBLAS's load-time constructor, before any of our code
/// runs. But the library exports the two functions that constructor calls to pick the set
/// (`gotoblas_dynamic_quit` / `gotoblas_dynamic_init`, `driver/others/dynamic.c`), so before the
/// first product this sets the variable and picks again. Only a fallback below AVX2 is
/// corrected, to the kernels the CPU's own flags support (AVX-512: SkylakeX; AVX2 + FMA:
/// Haswell); a set OpenBLAS chose for a CPU it knows is left alone, as is any
/// `OPENBLAS_CORETYPE` the user set. The functions are looked up at run time (`dlsym`), so an
/// OpenBLAS built for one CPU, without them, links and runs as before.
enum OpenBLASKernels {
    /// Kernel sets that use neither AVX2 nor AVX-512: what OpenBLAS falls back to for CPUs it
    /// does not know, and the sets of CPUs older than both (names as `openblas_get_corename`).
    static let belowAVX2: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron",
                                         "opteron_sse3", "barcelona", "nano", "katmai", "coppermine", "northwood",
                                         "banias", "athlon", "unknown"]

    /// The kernel set OpenBLAS runs now.
    static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The set to run instead of `current` on a CPU with these extensions, or nil to keep it.
    static func replacement(for current: String, avx512: Bool, avx2: Bool) -> String? {
        guard belowAVX2.contains(current.lowercased()) else { return nil }
        if avx512 { return "SkylakeX" }
        if avx2 { return "Haswell" }
        return nil
    }

    /// Picks the kernel set again when OpenBLAS fell back below what the CPU supports. Call
    /// before the first product (`BLAS.configured`).
    static func correctMisdetectedCore() {
        #if canImport(Glibc)
        guard getenv("OPENBLAS_CORETYPE") == nil, getenvString("LUMEN_OPENBLAS_CORE_FIX") != "0" else { return }
        let current = coreName
        guard let wanted = replacement(for: current, avx512: CPUFeatures.avx512, avx2: CPUFeatures.avx2),
              let quit = dlsym(nil, "gotoblas_dynamic_quit"), let pick = dlsym(nil, "gotoblas_dynamic_init") else { return }
        typealias Entry = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        unsafeBitCast(quit, to: Entry.self)()
        unsafeBitCast(pick, to: Entry.self)()
        if coreName.lowercased() != wanted.lowercased() {
            // Not expected: the library did not take the name. Put its own choice back.
            unsetenv("OPENBLAS_CORETYPE")
            unsafeBitCast(quit, to: Entry.self)()
            unsafeBitCast(pick, to: Entry.self)()
        }
        #endif
    }
}

import Foundation
@testable import LumenTensor
import Testing

/// How the engine picks its kernels for the CPU it runs on: OpenBLAS's kernel set (corrected where
/// OpenBLAS 0.3.21 falls back to generic SSE3 kernels for a CPU it does not know) and whether
/// products run in bf16 (`BF16Matmul.probe`).
struct CPUKernelChoiceTests {
    @Test func aFallbackBelowAVX2IsReplacedByWhatTheCPUSupports() {
        #expect(OpenBLASKernels.replacement(for: "Prescott", avx512: true, avx2: true) == "SkylakeX")
        #expect(OpenBLASKernels.replacement(for: "Prescott", avx512: false, avx2: true) == "Haswell")
        #expect(OpenBLASKernels.replacement(for: "Nehalem", avx512: false, avx2: true) == "Haswell")
        // A CPU with neither keeps what OpenBLAS chose.
        #expect(OpenBLASKernels.replacement(for: "Prescott", avx512: false, avx2: false) == nil)
    }

    @Test func aKernelSetChosenForAKnownCPUIsKept() {
        for name in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "SandyBridge"] {
            #expect(OpenBLASKernels.replacement(for: name, avx512: true, avx2: true) == nil, "\(name)")
        }
    }

    /// On this machine, once configured, OpenBLAS runs kernels at least as wide as the CPU's AVX2
    /// (unless the user forced a set), and its products are still right.
    @Test func openBLASRunsTheCPUsVectorKernels() {
        _ = BLAS.configured
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil && CPUFeatures.avx2 {
            #expect(!OpenBLASKernels.belowAVX2.contains(OpenBLASKernels.coreName.lowercased()), "\(OpenBLASKernels.coreName)")
        }
        let (m, n, k) = (33, 47, 129)
        let a = (0..<(m * k)).map { Float(($0 % 13) - 6) }, b = (0..<(k * n)).map { Float(($0 % 7) - 3) }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        for i in [0, 17, m - 1] {
            for j in [0, 23, n - 1] {
                let expected = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[$1 * n + j] }
                #expect(c[i * n + j] == expected)
            }
        }
    }

    /// The probe times both precisions (positive, finite) where bf16 can run at all.
    @Test(.enabled(if: BF16Matmul.cpuHasAVX512BF16, "needs a CPU with AVX512-BF16"))
    func theBF16ProbeMeasuresBothPrecisions() throws {
        let probe = try #require(BF16Matmul.probe)
        #expect(probe.bf16 > 0 && probe.bf16.isFinite && probe.fp32 > 0 && probe.fp32.isFinite)
    }
}

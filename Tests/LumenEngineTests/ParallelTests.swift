import Foundation
@testable import LumenTensor
import Testing

/// The parallel loops on the OpenMP team (`OpenMPTeam`): every index runs exactly once, on the
/// team's threads, marked as a task, and a team loop started inside a task runs inline.
@Suite struct ParallelTests {
    @Test(arguments: [1, 2, 7, 1000]) func teamRunsEveryIndexOnce(count: Int) {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        hits.initialize(repeating: 0, count: count)
        defer { hits.deallocate() }
        let box = UncheckedSendable(hits)
        let inTask = UnsafeMutablePointer<Bool>.allocate(capacity: count)
        defer { inTask.deallocate() }
        let flags = UncheckedSendable(inTask)
        OpenMPTeam.run(count) { i in
            box.value[i] += 1
            flags.value[i] = ParallelContext.inTask
        }
        #expect((0..<count).allSatisfy { hits[$0] == 1 })
        #expect((0..<count).allSatisfy { inTask[$0] })
        #expect(!ParallelContext.inTask)
    }

    @Test func loopsInsideATaskRunInline() {
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        total.initialize(repeating: 0, count: 8)
        defer { total.deallocate() }
        let box = UncheckedSendable(total)
        OpenMPTeam.run(8) { i in
            // Nested: runs on this thread, so plain writes to this task's slot are safe.
            OpenMPTeam.run(100) { _ in box.value[i] += 1 }
        }
        #expect((0..<8).allSatisfy { total[$0] == 100 })
    }

    /// Where Debian's OpenMP build of OpenBLAS is installed (`tools/bootstrap.sh` installs it),
    /// the run path in `Package.swift` must load it ahead of the pthreads build the system points
    /// at; and its threaded products, inside and outside `singleThreaded`, must equal a plain
    /// triple loop.
    @Test func openBLASRunsOnTheOpenMPBuildWhereInstalled() {
        #if os(Linux) && arch(x86_64)
        if FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0") {
            #expect(BLAS.onOpenMP, "OpenBLAS's OpenMP build is installed but the pthreads build was loaded")
        }
        #endif
        let (m, n, k) = (96, 80, 72)  // 553k multiply-adds: threaded by OpenBLAS (from 2^18)
        let a = (0..<(m * k)).map { Float(($0 * 7) % 13) - 6 }, b = (0..<(k * n)).map { Float(($0 * 5) % 11) - 5 }
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        for lowered in [false, true] {
            var c = [Float](repeating: .nan, count: m * n)
            BF16Matmul.$forced.withValue(false) {
                let run = { c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: cp.baseAddress!, ldc: n)
                } }
                if lowered { BLAS.singleThreaded(run) } else { run() }
            }
            #expect(c == expected, "lowered: \(lowered)")
        }
    }
}

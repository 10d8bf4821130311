import Dispatch
import Foundation

/// Runs `body` over `0..<count` in contiguous chunks on all cores.
///
/// Chunks are sized so that small loops stay on the calling thread: spawning work costs more
/// than it saves below a few thousand elements.
@inlinable
public func parallelChunks(_ count: Int, minChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
    let workers = Swift.min(ComputeThreads.count, Swift.max(1, count / Swift.max(minChunk, 1)))
    if workers <= 1 {
        body(0..<count)
        return
    }
    let chunk = (count + workers - 1) / workers
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { box.value(start..<end) }
        }
    }
}

/// Runs `body(i)` for each `i` in `0..<count`, spread over all cores.
@inlinable
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 || ComputeThreads.count <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
    }
}

/// Carries a non-`Sendable` closure into `concurrentPerform`. Safe here because every caller
/// writes disjoint index ranges and `concurrentPerform` returns only when all work is done.
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// The number of compute threads (all online cores unless `LUMEN_THREADS` says otherwise).
public enum ComputeThreads {
    private static let gate = NSLock()

    /// Runs `body` as the only model computation in the process; other callers wait their turn.
    /// The kernels size their work for all cores, and OpenBLAS's thread count is process-wide
    /// (`BLAS.singleThreaded` lowers it around its parallel sections), so two generations at once
    /// only compete for the same cores while each changes the library state under the other:
    /// OpenBLAS 0.3.21 gives no guarantee for GEMMs that overlap a thread-count change, and a
    /// same-seed picture once came back one level off in one pixel while other test suites
    /// generated beside it. Serving throughput on a CPU is the same either way.
    public static func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        gate.lock()
        defer { gate.unlock() }
        return try body()
    }

    public static let count: Int = {
        if let text = getenvString("LUMEN_THREADS"), let n = Int(text), n > 0 { return n }
        return Swift.max(1, systemCoreCount())
    }()
}

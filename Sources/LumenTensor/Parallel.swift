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
            if start < end { ParallelContext.asTask { box.value(start..<end) } }
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
        DispatchQueue.concurrentPerform(iterations: count) { i in ParallelContext.asTask { box.value(i) } }
    }
}

/// Whether the current thread is running a task of `parallelFor`/`parallelChunks` (a per-thread
/// flag): work started there must not start threads of its own — a GEMM stays on OpenBLAS with
/// one thread rather than going to oneDNN's OpenMP team.
public enum ParallelContext {
    @usableFromInline static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True inside a task of `parallelFor` or `parallelChunks` on this thread.
    public static var inTask: Bool { pthread_getspecific(key) != nil }

    @inlinable static func asTask(_ body: () -> Void) {
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        body()
        pthread_setspecific(key, outer)
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
    /// generated beside it. Jobs queue here instead of sharing the cores (not measured: with
    /// both already busy, running two at once is not expected to finish sooner).
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

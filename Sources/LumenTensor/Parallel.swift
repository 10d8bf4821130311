import CDNNL
import Dispatch
import Foundation
import Synchronization

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
    if OpenMPTeam.takesNextLoop {
        OpenMPTeam.run(workers) { w in
            let start = w * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { body(start..<end) }
        }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { ParallelContext.asTask { box.value(start..<end) } }
        }
    }
}

/// Runs `body(i)` for each `i` in `0..<count`, spread over all cores (on the OpenMP team,
/// `OpenMPTeam`; inside a task, on the calling thread alone).
@inlinable
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 || ComputeThreads.count <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    if OpenMPTeam.takesNextLoop {
        OpenMPTeam.run(count, body)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(escapable)
        DispatchQueue.concurrentPerform(iterations: count) { i in ParallelContext.asTask { box.value(i) } }
    }
}

/// Runs parallel loops on the calling thread's OpenMP team, the threads oneDNN's products run
/// on, when a oneDNN product ran last (`LUMEN_POOL`: `openmp` always, `dispatch` never).
///
/// Loops ran on libdispatch's workers (`concurrentPerform`). After each multi-threaded oneDNN
/// product, GNU OpenMP's worker keeps spinning for a while, waiting for the next region; a loop
/// started then had three busy threads on two cores, and one of its halves waited for the
/// spinner's time slice. A 1024-token attention measured 6 ms alone and 11 ms right after a
/// oneDNN product (a throwaway harness). On the team, the spinning thread takes the loop's work.
/// OpenBLAS's own workers spin the same way after its threaded products, so after one of those
/// the loop stays on libdispatch: always on the team, the built-in model (many products on
/// OpenBLAS) measured 0.84–0.86 s for 8 guided steps against 0.71–0.76 s (one pair each).
/// Measured with `lumen bench`, same binary, alternating `LUMEN_POOL=dispatch` and the default:
/// random SD-Turbo at 256² with TAESD, 3 pairs of 3 runs, UNet step 0.67–0.75 → 0.57–0.65 s,
/// decode 0.14–0.17 → 0.12–0.14 s, end to end 1.05–1.09 → 0.95–0.97 s; at 512² (always on the
/// team), 2 pairs of 2 runs, UNet step 2.94–3.12 → 2.64–2.66 s. The built-in model, 5 pairs of
/// 7 runs: medians 0.68–0.79 s against 0.57–0.89 s, no difference that could be resolved.
@usableFromInline
enum OpenMPTeam {
    enum Policy { case follow, always, never }
    static let policy: Policy = {
        switch getenvString("LUMEN_POOL") {
        case "openmp": .always
        case "dispatch": .never
        default: .follow
        }
    }()

    /// Whether the last product that used several threads ran on oneDNN's OpenMP team (true) or
    /// on OpenBLAS's threads (false). Races only change which pool a loop runs on.
    static let productsOnTeam = Atomic<Bool>(false)

    /// Records which threads a product is about to run on (`BF16Matmul`, `BF16Convolution`, `BLAS`).
    static func noteProduct(onTeam: Bool) {
        if policy == .follow { productsOnTeam.store(onTeam, ordering: .relaxed) }
    }

    @usableFromInline static var takesNextLoop: Bool {
        switch policy {
        case .always: true
        case .never: false
        case .follow: productsOnTeam.load(ordering: .relaxed)
        }
    }

    /// One loop's shared state: the next index to take, and the body.
    final class Loop: @unchecked Sendable {
        let next = Atomic<Int>(0)
        let count: Int
        let body: (Int) -> Void
        init(count: Int, body: @escaping (Int) -> Void) { self.count = count; self.body = body }
    }

    @usableFromInline
    static func run(_ count: Int, _ body: (Int) -> Void) {
        if ParallelContext.inTask {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let loop = Unmanaged.passRetained(Loop(count: count, body: escapable))
            GOMP_parallel({ raw in
                let loop = Unmanaged<Loop>.fromOpaque(raw!).takeUnretainedValue()
                ParallelContext.asTask {
                    while true {
                        let i = loop.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if i >= loop.count { break }
                        loop.body(i)
                    }
                }
            }, loop.toOpaque(), UInt32(Swift.min(count, ComputeThreads.count)), 0)
            loop.release()
        }
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

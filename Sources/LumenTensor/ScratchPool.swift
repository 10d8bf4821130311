import Foundation

/// Reusable fp32 work buffers for the kernels (widened weight blocks, im2col bands, Winograd
/// transforms, attention score blocks).
///
/// A fresh buffer per kernel call is mapped and page-faulted anew each time once it is above
/// glibc's mmap threshold (which moves with the allocation history, up to 32 MB): measured on the
/// TAESD decoder at 256², the same decode took 0.29 s or 0.6 s depending on which side of the
/// threshold its Winograd buffers fell. Buffers up to `maximumPooledFloats` are kept and handed
/// out again instead; at most one per concurrent user is live, so the pool stays a few tens of MB.
/// Larger requests are allocated and freed as before.
public enum ScratchPool {
    /// 16 MiB of floats.
    public static let maximumPooledFloats = 1 << 22

    /// Fills every uninitialised buffer (pooled scratch and `Tensor(uninitializedShape:)`) with
    /// NaN before a kernel sees it, when `LUMEN_POISON_SCRATCH=1`: a kernel that reads memory it
    /// did not write then fails the parity tests instead of depending on what a previous request
    /// left there. The test suite runs with it on.
    public static let poison: Bool = getenvString("LUMEN_POISON_SCRATCH") == "1"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    /// Calls `body` with an uninitialised buffer of at least `count` floats, valid only inside `body`.
    public static func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        guard count <= maximumPooledFloats else {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { pointer.deallocate() }
            if poison { pointer.initialize(repeating: .nan, count: count) }
            return try body(pointer)
        }
        lock.lock()
        let buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)
        if let i = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
            buffer = free.remove(at: i)
        } else {
            if let i = free.indices.max(by: { free[$0].capacity < free[$1].capacity }) {
                // Replace the largest idle buffer rather than keep one more.
                free.remove(at: i).pointer.deallocate()
            }
            buffer = (.allocate(capacity: count), count)
        }
        lock.unlock()
        defer {
            lock.lock()
            free.append(buffer)
            lock.unlock()
        }
        if poison { buffer.pointer.initialize(repeating: .nan, count: buffer.capacity) }
        return try body(buffer.pointer)
    }
}

import Foundation

/// One convolution weight's Winograd-transformed filters (`U = G g Gᵀ`, 36 × Cout × Cin, bf16),
/// made on the first call that takes the bf16 Winograd path and kept with the weight — "weights
/// pre-packed for the product", as GEMM libraries do with their packed B.
///
/// Transforming on every call cost ~0.19 s of a ~3 s SD-Turbo UNet step at 512² (kernel
/// profiler, 2-core AVX512-BF16 EPYC: `winograd filter transform` labels), and as many per
/// VAE decode. The price is memory: 36 bf16 values per filter against 9 stored fp16 ones, 4× the
/// weight — ~0.6 GB for the SD UNet's Winograd layers, ~0.4 GB for the SD VAE decoder's. All
/// caches together stay within `budgetBytes` (`LUMEN_WINOGRAD_CACHE_MB`, default 2048; 0 turns
/// caching off); a weight that does not fit is transformed per call as before. Only the bf16
/// form is kept: fp32 filters would take 8× the weight.
///
/// A reference type inside the `WeightTensor` value, so copies of a weight share one cache; its
/// lock makes the first call's transform happen once even when two requests race.
public final class WinogradFilterCache: @unchecked Sendable {
    private let lock = NSLock()
    private var filters: UnsafeMutablePointer<UInt16>?
    private var count = 0

    public init() {}

    deinit {
        if let filters {
            filters.deallocate()
            Self.release(count * 2)
        }
    }

    /// Whether a cache of this many bytes may be made (budget), reserving them if so.
    private static func reserve(_ bytes: Int) -> Bool {
        budgetLock.lock()
        defer { budgetLock.unlock() }
        guard reservedBytes + bytes <= budgetBytes else { return false }
        reservedBytes += bytes
        return true
    }

    private static func release(_ bytes: Int) {
        budgetLock.lock()
        reservedBytes -= bytes
        budgetLock.unlock()
    }

    /// Bytes all caches may hold together.
    static let budgetBytes: Int = (Int(getenvString("LUMEN_WINOGRAD_CACHE_MB") ?? "") ?? 2048) << 20
    private static let budgetLock = NSLock()
    nonisolated(unsafe) private static var reservedBytes = 0

    /// Bytes held by all caches now (for tests and reports).
    static var heldBytes: Int {
        budgetLock.lock()
        defer { budgetLock.unlock() }
        return reservedBytes
    }

    /// The cached filters (`count` bf16 values), made by `make` on first use; nil when they do
    /// not fit the budget (the caller then transforms per call) or were cached at another size.
    func filters(count: Int, make: (UnsafeMutablePointer<UInt16>) -> Void) -> UnsafePointer<UInt16>? {
        lock.lock()
        defer { lock.unlock() }
        if let filters { return count == self.count ? UnsafePointer(filters) : nil }
        guard Self.reserve(count * 2) else { return nil }
        let p = UnsafeMutablePointer<UInt16>.allocate(capacity: count)
        make(p)
        filters = p
        self.count = count
        return UnsafePointer(p)
    }

    /// Whether filters are held.
    var isFilled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return filters != nil
    }
}

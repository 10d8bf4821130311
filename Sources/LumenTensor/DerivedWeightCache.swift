import Foundation

/// A form of one weight derived for a kernel and kept with it — "weights pre-packed for the
/// product", as GEMM libraries keep their packed B: Winograd's transformed filters
/// (`U = G g Gᵀ`, 36 × Cout × Cin bf16, 4× the weight) and oneDNN's blocked bf16 filters for its
/// convolution primitive (1× the weight, and in place of the plain elements: `BF16Elements`, so
/// they cost no memory and are not budgeted). Made on the first call that needs it.
///
/// Measured on the SD-Turbo UNet at 512² (2-core AVX512-BF16 EPYC, kernel profiler): transforming
/// Winograd's filters on every call cost ~0.19 s of a ~3 s step, and about as much per SD VAE
/// decode. The price is memory: 4× each such weight, 0.14 GB at 256² and 0.6 GB at 512² for the
/// SD UNet, 0.44 GB more for the SD VAE at 512², which put Lumen's peak above
/// stable-diffusion.cpp's in every configuration of the benchmark. So budgeted forms (Winograd's)
/// are off by default: `budgetBytes` (`LUMEN_WEIGHT_CACHE_MB`, default 0) caps all of them
/// together, and a form that does not fit is derived per call — where that loses to oneDNN's
/// direct convolution, the layer runs there instead (`Winograd.beatsDirect`). With
/// `LUMEN_WEIGHT_CACHE_MB=3072` a 512² UNet step measured 2.47–2.62 s against 2.78 s without.
///
/// A reference type inside the `WeightTensor` value, so copies of a weight share one cache; its
/// lock makes the first call's work happen once even when two requests race. One form per
/// cache: a request for another layout (`layout` differs) is not cached.
public final class DerivedWeightCache: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer: UnsafeMutableRawPointer?
    private var bytes = 0
    private var layout: [Int64] = []
    /// Whether `bytes` count against the budget (a form that replaces the weight's own elements
    /// does not).
    private var budgeted = true

    public init() {}

    deinit {
        if let buffer {
            buffer.deallocate()
            if budgeted { Self.release(bytes) }
        }
    }

    /// The cached form (`bytes` bytes, described by `layout`), made by `make` on first use (it
    /// returns false when it could not, and nothing is kept); nil when it does not fit the
    /// budget, could not be made, or another layout is cached. A form made with `budgeted`
    /// false is not counted: its maker replaces the weight's own elements with it.
    func form(bytes: Int, layout: [Int64] = [], budgeted: Bool = true, make: (UnsafeMutableRawPointer) -> Bool) -> UnsafeRawPointer? {
        lock.lock()
        defer { lock.unlock() }
        if let buffer { return bytes == self.bytes && layout == self.layout ? UnsafeRawPointer(buffer) : nil }
        guard !budgeted || Self.reserve(bytes) else { return nil }
        let p = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
        guard make(p) else {
            p.deallocate()
            if budgeted { Self.release(bytes) }
            return nil
        }
        (buffer, self.bytes, self.layout, self.budgeted) = (p, bytes, layout, budgeted)
        return UnsafeRawPointer(p)
    }

    /// Winograd's bf16 filters (`count` values), made by `make` on first use.
    func filters(count: Int, make: (UnsafeMutablePointer<UInt16>) -> Void) -> UnsafePointer<UInt16>? {
        form(bytes: 2 * count) { raw in
            make(raw.bindMemory(to: UInt16.self, capacity: count))
            return true
        }?.assumingMemoryBound(to: UInt16.self)
    }

    /// Whether a form is held.
    var isFilled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return buffer != nil
    }

    /// Bytes all caches may hold together.
    static var budgetBytes: Int { budgetOverride ?? configuredBudgetBytes }
    static let configuredBudgetBytes: Int = (Int(getenvString("LUMEN_WEIGHT_CACHE_MB") ?? "") ?? 0) << 20
    /// Replaces the configured budget for the current task (tests of the caching itself).
    @TaskLocal static var budgetOverride: Int?
    private static let budgetLock = NSLock()
    nonisolated(unsafe) private static var reservedBytes = 0

    /// Whether a form of `bytes` would fit the budget now (not reserved: a later `form` may
    /// still find it full).
    static func wouldFit(_ bytes: Int) -> Bool {
        budgetLock.lock()
        defer { budgetLock.unlock() }
        return reservedBytes + bytes <= budgetBytes
    }

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
}

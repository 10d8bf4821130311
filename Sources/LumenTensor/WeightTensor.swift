import Foundation

/// A GEMM layer's weight (`Linear` `[out, in]`, `Conv2d` `[out, in, kh, kw]`), kept in memory at
/// the precision it was stored in and widened to fp32 block by block when a kernel multiplies by it.
///
/// fp16 and bf16 widen to fp32 exactly, so results equal those of weights widened at load up to
/// the GEMM's summation order; what changes is memory: SD-Turbo's UNet and text encoder take
/// 2.4 GB as fp16 and 4.8 GB as fp32 (stable-diffusion.cpp, too, keeps weights as stored). The
/// kernels ask for blocks (`withFloatBlock`; sized in `NN.widenedGEMM`: half a core's L2 for
/// weight-bound layers, ≤ 16 MiB otherwise), widened into pooled scratch buffers (F16C
/// `vcvtph2ps`, ~11 G elements/s per core from cache here) just before a GEMM reads them, so no
/// full fp32 copy ever exists. `LUMEN_WEIGHTS=fp32` widens everything at load instead.
public struct WeightTensor: Sendable {
    /// The elements, in the stored precision (what a loader hands over).
    public enum Storage: Sendable {
        case float32([Float])
        case float16([Float16])
        /// bfloat16 bit patterns (the upper half of an fp32).
        case bfloat16([UInt16])
    }

    /// The elements as kept: bf16 ones in a shared box, whose plain array a kernel may trade for
    /// an exact rearrangement it keeps (`BF16Elements`).
    enum Elements: Sendable {
        case float32([Float])
        case float16([Float16])
        case bfloat16(BF16Elements)
        case mapped(MappedElements)
    }

    /// The element types a weight may be read in from a mapped file.
    public enum MappedPrecision: Sendable {
        case float32, float16, bfloat16
    }

    public let shape: [Int]
    let elements: Elements
    /// Winograd's transformed filters, when this is a 3×3 convolution that took that path in bf16.
    public let winogradFilters = DerivedWeightCache()
    /// oneDNN's blocked filters, when this convolution ran on its primitive (`BF16Convolution`);
    /// they then replace the plain bf16 elements.
    public let blockedFilters = DerivedWeightCache()
    /// oneDNN's packed matmul weight, when this linear layer's product ran in bf16
    /// (`BF16Matmul.linearPacked`); it then replaces the plain bf16 elements.
    public let packedWeights = DerivedWeightCache()

    public init(shape: [Int], storage: Storage) {
        let count: Int
        switch storage {
        case let .float32(a): count = a.count; elements = .float32(a)
        case let .float16(a): count = a.count; elements = .float16(a)
        case let .bfloat16(a): count = a.count; elements = .bfloat16(BF16Elements(a))
        }
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not match \(count) elements")
        self.shape = shape
    }

    /// An fp32 weight (no widening at use).
    public init(_ tensor: Tensor) {
        self.init(shape: tensor.shape, storage: .float32(tensor.data))
    }

    /// A weight read in place from a mapped file (little-endian elements at `base`, any
    /// alignment), which `owner` keeps mapped. Only the pages a kernel reads become resident: for
    /// a lookup table such as CLIP's token embedding (49 408 × 1024, 101 MB as fp16, of which a
    /// prompt reads 77 rows), kept this way instead of copied out.
    public init(shape: [Int], mapped base: UnsafeRawPointer, precision: MappedPrecision, owner: AnyObject & Sendable) {
        self.shape = shape
        elements = .mapped(MappedElements(base: base, precision: precision, owner: owner))
    }

    /// The rows of `parts` one after another (`torch.cat(dim=0)`): weights of layers that read
    /// the same input, multiplied as one (attention's `to_q`, `to_k`, `to_v`). Nil unless all
    /// are kept in memory at one precision with equal row lengths. The parts' elements are copied,
    /// so callers keep only the result.
    public init?(concatenatingRows parts: [WeightTensor]) {
        guard let first = parts.first, parts.allSatisfy({ $0.rowLength == first.rowLength }) else { return nil }
        for part in parts { if case .mapped = part.elements { return nil } }
        let shape = [parts.reduce(0) { $0 + $1.rows }] + Array(first.shape.dropFirst())
        let storages = parts.map(\.storage)
        /// All parts' elements in order, when every part is stored as `case`.
        func joined<T>(_ elements: (Storage) -> [T]?) -> [T]? {
            var all: [T] = []
            for storage in storages {
                guard let a = elements(storage) else { return nil }
                all += a
            }
            return all
        }
        if let all = joined({ if case let .float32(a) = $0 { a } else { nil } }) {
            self.init(shape: shape, storage: .float32(all))
        } else if let all = joined({ if case let .float16(a) = $0 { a } else { nil } }) {
            self.init(shape: shape, storage: .float16(all))
        } else if let all = joined({ if case let .bfloat16(a) = $0 { a } else { nil } }) {
            self.init(shape: shape, storage: .bfloat16(all))
        } else {
            return nil
        }
    }

    /// The same elements viewed with another shape of as many elements (no derived form is
    /// carried over: those depend on the shape).
    public func reshaped(_ newShape: [Int]) -> WeightTensor {
        precondition(newShape.reduce(1, *) == count, "shape \(newShape) does not match \(count) elements")
        return WeightTensor(shape: newShape, elements: elements)
    }

    private init(shape: [Int], elements: Elements) {
        self.shape = shape
        self.elements = elements
    }

    /// The stored elements. For bf16 this is a copy (rebuilt from a kernel's kept form when the
    /// plain array was released), meant for inspection, not for kernels.
    public var storage: Storage {
        switch elements {
        case let .float32(a): .float32(a)
        case let .float16(a): .float16(a)
        case let .bfloat16(box): .bfloat16(box.withPlain { Array(UnsafeBufferPointer(start: $0, count: box.count)) })
        case let .mapped(m): m.storage(count: count)
        }
    }

    public var count: Int { shape.reduce(1, *) }
    /// Output features or channels: the first dimension.
    public var rows: Int { shape[0] }
    /// Elements per row (`in` for a linear layer, `in·kh·kw` for a convolution).
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }

    /// The fp32 elements when stored as fp32, without copying.
    public var float32: [Float]? {
        if case let .float32(a) = elements { return a }
        return nil
    }

    /// The whole weight as an fp32 tensor (a widened copy unless stored as fp32).
    public var floatTensor: Tensor {
        if let a = float32 { return Tensor(shape: shape, data: a) }
        return Tensor(uninitializedShape: shape) { out in
            withFloatRows(0..<rows) { out.baseAddress!.update(from: $0, count: count) }
        }
    }

    /// Calls `body` with rows `range` as contiguous fp32: a pointer into the stored array when it
    /// is fp32, else a pooled scratch buffer widened from the stored elements (in parallel unless
    /// `parallel` is false, for callers that already run one task per core).
    public func withFloatRows<R>(_ range: Range<Int>, parallel: Bool = true, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withFloatBlock(rows: range, columns: 0..<rowLength, parallel: parallel) { pointer, _ in try body(pointer) }
    }

    /// Calls `body` with the block `rows × columns` of the weight viewed as `[rows, rowLength]`,
    /// and its leading dimension: the stored array itself (leading dimension `rowLength`) when
    /// fp32, else the block widened into a pooled scratch buffer (leading dimension
    /// `columns.count`). GEMMs that sum over the columns in such blocks widen each weight element
    /// once, into a buffer small enough to stay in cache until the GEMM reads it.
    public func withFloatBlock<R>(rows: Range<Int>, columns: Range<Int>, parallel: Bool,
                                  _ body: (UnsafePointer<Float>, Int) throws -> R) rethrows -> R {
        let (ld, kb) = (rowLength, columns.count)
        let first = rows.lowerBound * ld + columns.lowerBound
        switch elements {
        case let .float32(a):
            return try a.withUnsafeBufferPointer { try body($0.baseAddress! + first, ld) }
        case let .float16(a):
            return try ScratchPool.withBuffer(rows.count * kb) { dst in
                a.withUnsafeBufferPointer { src in
                    Self.widenBlock(src.baseAddress!, first: first, ld: ld, rows: rows.count, columns: kb, parallel: parallel, into: dst, Self.widen)
                }
                return try body(dst, kb)
            }
        case let .bfloat16(box):
            return try ScratchPool.withBuffer(rows.count * kb) { dst in
                box.withPlain { src in
                    Self.widenBlock(src, first: first, ld: ld, rows: rows.count, columns: kb, parallel: parallel, into: dst, Self.widen)
                }
                return try body(dst, kb)
            }
        case let .mapped(m):
            return try ScratchPool.withBuffer(rows.count * kb) { dst in
                for r in 0..<rows.count { m.widen(from: first + r * ld, count: kb, into: dst + r * kb) }
                return try body(dst, kb)
            }
        }
    }

    /// Calls `body` with the bf16 elements row-major, when the weight is kept in bf16; nil
    /// otherwise.
    func withBF16Elements<R>(_ body: (UnsafePointer<UInt16>) throws -> R) rethrows -> R? {
        guard case let .bfloat16(box) = elements else { return nil }
        return try box.withPlain(body)
    }

    /// Widens `rows` runs of `columns` elements (the first at `first`, one every `ld`) into `dst`
    /// with leading dimension `columns`, rows spread over the cores when worth it.
    private static func widenBlock<E>(_ src: UnsafePointer<E>, first: Int, ld: Int, rows: Int, columns: Int, parallel: Bool,
                                      into dst: UnsafeMutablePointer<Float>,
                                      _ widenRun: (UnsafePointer<E>, UnsafeMutablePointer<Float>, Int) -> Void) {
        let source = UncheckedSendable(UnsafeRawPointer(src))
        eachRowChunk(rows, columns, parallel: parallel) {
            let s = source.value.assumingMemoryBound(to: E.self)
            for i in $0 { widenRun(s + first + i * ld, dst + i * columns, columns) }
        }
    }

    /// Rows in per-core chunks when the block is big enough to be worth spreading.
    private static func eachRowChunk(_ rows: Int, _ length: Int, parallel: Bool, _ body: (Range<Int>) -> Void) {
        if !parallel || rows * length < 1 << 16 { body(0..<rows); return }
        parallelChunks(rows, minChunk: Swift.max(1, (1 << 15) / Swift.max(length, 1)), body)
    }

    /// fp16 → fp32; with F16C (`-target-cpu native` on x86-64) each conversion is one `vcvtph2ps`.
    @inline(never)
    static func widen(_ src: UnsafePointer<Float16>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { dst[i] = Float(src[i]) }
    }

    /// bf16 → fp32: the 16 bits become the upper half of the fp32 pattern.
    @inline(never)
    static func widen(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
    }
}

/// A bf16 weight's elements, one box for every copy of the weight: the plain row-major array,
/// or, once a kernel keeps an exact rearrangement of the same values (oneDNN's blocked filters,
/// `BF16Convolution`), only that rearrangement until another path asks for the plain array,
/// which is then gathered back from it and held again (the kernel releases it on its next call).
///
/// Why: keeping both doubled the memory of the SD UNet's wide convolutions (~0.9 GB at 256²,
/// where oneDNN runs most of them), which put Lumen's peak resident memory above
/// stable-diffusion.cpp's. The blocked form holds the same bf16 values, so nothing is lost; only
/// a run that mixes paths for one weight (`lumen bench --fidelity`'s fp32 reference) holds both
/// again.
final class BF16Elements: @unchecked Sendable {
    let count: Int
    private let lock = NSLock()
    private var plain: [UInt16]?
    private var rebuild: (@Sendable (UnsafeMutablePointer<UInt16>) -> Void)?

    init(_ plain: [UInt16]) {
        count = plain.count
        self.plain = plain
    }

    /// Whether the plain array is held.
    var holdsPlain: Bool {
        lock.lock()
        defer { lock.unlock() }
        return plain != nil
    }

    /// Calls `body` with the elements row-major, gathering them back first if they were released
    /// (once: concurrent callers wait for the first; the array a concurrent `releasePlain` drops
    /// stays alive for this call).
    func withPlain<R>(_ body: (UnsafePointer<UInt16>) throws -> R) rethrows -> R {
        lock.lock()
        if plain == nil, let rebuild {
            plain = [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
                rebuild(buffer.baseAddress!)
                initialized = count
            }
        }
        let held = plain
        lock.unlock()
        guard let held else { preconditionFailure("a bf16 weight lost its elements") }
        return try held.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Drops the plain array in favour of `form`, the same elements rearranged and kept in
    /// `cache`: `gather` writes them back row-major from it whenever they are asked for again
    /// (the rebuild holds `cache`, so the form outlives it). Nothing happens once released.
    func releasePlain(keeping form: UnsafeRawPointer, in cache: DerivedWeightCache,
                      gather: @escaping @Sendable (UnsafeRawPointer, UnsafeMutablePointer<UInt16>) -> Void) {
        let kept = UncheckedSendable(form)
        releasePlain { dst in withExtendedLifetime(cache) { gather(kept.value, dst) } }
    }

    /// Drops the plain array; `rebuild` writes the same elements row-major from the form the
    /// caller keeps (it must keep that form alive), whenever they are asked for again.
    func releasePlain(rebuildingWith rebuild: @escaping @Sendable (UnsafeMutablePointer<UInt16>) -> Void) {
        lock.lock()
        guard var dropped = plain else {
            lock.unlock()
            return
        }
        self.rebuild = rebuild
        plain = nil
        lock.unlock()
        AllocatorPolicy.returnPages(of: &dropped)
    }
}

/// A weight's elements read in place from a mapped file (see `WeightTensor.init(shape:mapped:)`).
final class MappedElements: @unchecked Sendable {
    let base: UnsafeRawPointer
    let precision: WeightTensor.MappedPrecision
    /// Keeps the mapping alive.
    let owner: AnyObject & Sendable

    init(base: UnsafeRawPointer, precision: WeightTensor.MappedPrecision, owner: AnyObject & Sendable) {
        (self.base, self.precision, self.owner) = (base, precision, owner)
    }

    /// Elements `first ..< first + count` widened to fp32.
    func widen(from first: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch precision {
        case .float32:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: (first + i) * 4, as: UInt32.self))) }
        case .float16:
            for i in 0..<count { dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: (first + i) * 2, as: UInt16.self)))) }
        case .bfloat16:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: (first + i) * 2, as: UInt16.self))) << 16) }
        }
    }

    /// All `count` elements copied out, at their precision (narrowed back from `widen`, exactly).
    func storage(count: Int) -> WeightTensor.Storage {
        let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            widen(from: 0, count: count, into: buffer.baseAddress!)
            initialized = count
        }
        switch precision {
        case .float32: return .float32(floats)
        case .float16: return .float16(floats.map { Float16($0) })
        case .bfloat16: return .bfloat16(floats.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) })
        }
    }
}

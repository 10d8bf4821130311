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
    /// The elements, in the stored precision.
    public enum Storage: Sendable {
        case float32([Float])
        case float16([Float16])
        /// bfloat16 bit patterns (the upper half of an fp32).
        case bfloat16([UInt16])
    }

    public let shape: [Int]
    public let storage: Storage
    /// Winograd's transformed filters, when this is a 3×3 convolution that took that path in bf16.
    public let winogradFilters = DerivedWeightCache()
    /// oneDNN's blocked bf16 filters, when this convolution ran on its primitive (`BF16Convolution`).
    public let blockedFilters = DerivedWeightCache()

    public init(shape: [Int], storage: Storage) {
        let count: Int
        switch storage {
        case let .float32(a): count = a.count
        case let .float16(a): count = a.count
        case let .bfloat16(a): count = a.count
        }
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not match \(count) elements")
        self.shape = shape
        self.storage = storage
    }

    /// An fp32 weight (no widening at use).
    public init(_ tensor: Tensor) {
        self.init(shape: tensor.shape, storage: .float32(tensor.data))
    }

    public var count: Int { shape.reduce(1, *) }
    /// Output features or channels: the first dimension.
    public var rows: Int { shape[0] }
    /// Elements per row (`in` for a linear layer, `in·kh·kw` for a convolution).
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }

    /// The fp32 elements when stored as fp32, without copying.
    public var float32: [Float]? {
        if case let .float32(a) = storage { return a }
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
        switch storage {
        case let .float32(a):
            return try a.withUnsafeBufferPointer { try body($0.baseAddress! + first, ld) }
        case let .float16(a):
            return try ScratchPool.withBuffer(rows.count * kb) { dst in
                Self.widenBlock(a, first: first, ld: ld, rows: rows.count, columns: kb, parallel: parallel, into: dst, Self.widen)
                return try body(dst, kb)
            }
        case let .bfloat16(a):
            return try ScratchPool.withBuffer(rows.count * kb) { dst in
                Self.widenBlock(a, first: first, ld: ld, rows: rows.count, columns: kb, parallel: parallel, into: dst, Self.widen)
                return try body(dst, kb)
            }
        }
    }

    /// Widens `rows` runs of `columns` elements (the first at `first`, one every `ld`) into `dst`
    /// with leading dimension `columns`, rows spread over the cores when worth it.
    private static func widenBlock<E>(_ stored: [E], first: Int, ld: Int, rows: Int, columns: Int, parallel: Bool,
                                      into dst: UnsafeMutablePointer<Float>,
                                      _ widenRun: (UnsafePointer<E>, UnsafeMutablePointer<Float>, Int) -> Void) {
        stored.withUnsafeBufferPointer { src in
            eachRowChunk(rows, columns, parallel: parallel) {
                for i in $0 { widenRun(src.baseAddress! + first + i * ld, dst + i * columns, columns) }
            }
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

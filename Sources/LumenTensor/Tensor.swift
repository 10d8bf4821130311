/// A dense, row-major (PyTorch-contiguous) fp32 tensor.
///
/// Images and feature maps are NCHW, sequences are `[batch, tokens, channels]`, exactly as in
/// PyTorch, so weights from diffusers checkpoints load without any transposition.
/// Storage is a copy-on-write Swift array, which makes `Tensor` a `Sendable` value type.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Creates a tensor whose storage is written by `body` exactly once (no zero fill).
    @inlinable
    public init(uninitializedShape shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if ScratchPool.poison { buffer.initialize(repeating: .nan) }
            try body(buffer)
            initialized = count
        }
    }

    @inlinable public var count: Int { data.count }
    @inlinable public var rank: Int { shape.count }

    /// Returns the same storage viewed with another shape (one dimension may be -1).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var dims = newShape
        if let inferred = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            dims[inferred] = count / Swift.max(known, 1)
        }
        precondition(dims.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: dims, data: data)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}

import Foundation

// Elementwise and shape operations. Each mirrors the PyTorch operation named in its doc comment
// and computes in fp32 in the same order, so results match the reference to float rounding.

extension Tensor {
    /// `a + b` for equal shapes.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        var out = a
        out += b
        return out
    }

    /// `a += b` in place (`a.add_(b)`). Residual connections use this form on the freshly computed
    /// branch: `a + b` must first copy `a` when the caller still holds it, and at 512×512 the VAE's
    /// feature maps are 128–512 MB, so each avoided copy is a full memory pass and its page faults.
    public static func += (a: inout Tensor, b: Tensor) {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        OpProfiler.measure("add \(a.shape)") {
            a.data.withUnsafeMutableBufferPointer { o in
                b.data.withUnsafeBufferPointer { bp in
                    let (op, src) = (UncheckedSendable(o.baseAddress!), UncheckedSendable(bp.baseAddress!))
                    parallelChunks(o.count, minChunk: 1 << 16) { r in
                        for i in r { op.value[i] += src.value[i] }
                    }
                }
            }
        }
    }

    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func / (a: Tensor, s: Float) -> Tensor { a.map { $0 / s } }

    /// Applies `f` to every element.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor { OpProfiler.measure("elementwise \(shape)") {
        Tensor(uninitializedShape: shape) { o in
            data.withUnsafeBufferPointer { x in
                for i in 0..<x.count { o[i] = f(x[i]) }
            }
        }
    } }

    /// `torch.nn.functional.silu`: x · σ(x).
    public func silu() -> Tensor { OpProfiler.measure("silu \(shape)") {
        Tensor(uninitializedShape: shape) { o in
            data.withUnsafeBufferPointer { x in VectorMath.affineSiLU(x.baseAddress!, o.baseAddress!, count: x.count) }
        }
    } }
    /// `torch.nn.functional.gelu` (exact, erf form).
    public func gelu() -> Tensor { OpProfiler.measure("gelu \(shape)") {
        Tensor(uninitializedShape: shape) { o in
            data.withUnsafeBufferPointer { x in
                let (src, dst) = (UncheckedSendable(x.baseAddress!), UncheckedSendable(o.baseAddress!))
                parallelChunks(x.count, minChunk: 1 << 15) { r in
                    VectorMath.gelu(src.value + r.lowerBound, dst.value + r.lowerBound, count: r.count)
                }
            }
        }
    } }
    /// CLIP's `quick_gelu`: x · σ(1.702 x).
    public func quickGelu() -> Tensor { map { $0 / (1 + Foundation.exp(-1.702 * $0)) } }
    public func relu() -> Tensor { map { Swift.max($0, 0) } }
    public func tanh() -> Tensor { map { Foundation.tanh($0) } }

    /// `x += b[None, :, None, None]` in place; `bias` holds `C` values or one per image (`N·C`).
    public mutating func addChannelBias(_ bias: Tensor) {
        let (n, c) = (shape[0], shape[1])
        let hw = count / (n * c)
        precondition(bias.count == n * c || bias.count == c)
        data.withUnsafeMutableBufferPointer { o in
            bias.data.withUnsafeBufferPointer { b in
                for i in 0..<(n * c) {
                    let v = b.count == c ? b[i % c] : b[i]
                    let base = i * hw
                    for j in 0..<hw { o[base + j] += v }
                }
            }
        }
    }

    /// `relu_()`: negative elements set to zero, in place.
    public mutating func formReLU() {
        OpProfiler.measure("relu \(shape)") {
            data.withUnsafeMutableBufferPointer { o in
                let op = UncheckedSendable(o.baseAddress!)
                parallelChunks(o.count, minChunk: 1 << 16) { r in
                    for i in r { op.value[i] = Swift.max(op.value[i], 0) }
                }
            }
        }
    }

    /// `torch.cat(tensors, dim=1)` for tensors of equal batch size.
    public static func concatChannels(_ parts: [Tensor]) -> Tensor { OpProfiler.measure("concat \(parts.map(\.shape))") {
        let n = parts[0].shape[0]
        let rest = parts[0].shape.dropFirst(2)
        let channels = parts.map { $0.shape[1] }.reduce(0, +)
        var outShape = [n, channels]
        outShape.append(contentsOf: rest)
        return Tensor(uninitializedShape: outShape) { o in
            var offset = 0
            for b in 0..<n {
                for p in parts {
                    let per = p.count / n
                    p.data.withUnsafeBufferPointer { src in
                        o.baseAddress!.advanced(by: offset).update(from: src.baseAddress!.advanced(by: b * per), count: per)
                    }
                    offset += per
                }
            }
        }
    } }

    /// `torch.cat(tensors, dim=0)`.
    public static func concatBatch(_ parts: [Tensor]) -> Tensor {
        var shape = parts[0].shape
        shape[0] = parts.map { $0.shape[0] }.reduce(0, +)
        var data = [Float]()
        data.reserveCapacity(shape.reduce(1, *))
        for p in parts { data.append(contentsOf: p.data) }
        return Tensor(shape: shape, data: data)
    }

    /// Whether the batch is one half repeated (`torch.cat([x, x])`), compared bitwise: `-0.0` and
    /// `0.0`, or two NaNs, count as different, since work is shared only on exact equality.
    public func batchHalvesEqual() -> Bool {
        let n = shape[0]
        guard n > 0, n % 2 == 0 else { return false }
        let half = count / 2
        return data.withUnsafeBytes { p in memcmp(p.baseAddress!, p.baseAddress! + half * 4, half * 4) == 0 }
    }

    /// The first half along dimension 0 (`x[:n // 2]`).
    public func firstBatchHalf() -> Tensor {
        var shape = self.shape
        shape[0] /= 2
        return Tensor(shape: shape, data: Array(data[0..<(count / 2)]))
    }

    /// `n` copies stacked along dimension 0 (`x.repeat(n, 1, …)`).
    public func repeatedBatch(_ n: Int) -> Tensor {
        n == 1 ? self : Tensor.concatBatch(Array(repeating: self, count: n))
    }

    /// Splits along dimension 0 into `parts` equal pieces (`tensor.chunk(parts)`).
    public func chunkBatch(_ parts: Int) -> [Tensor] {
        let per = count / parts
        var shape = self.shape
        shape[0] /= parts
        return (0..<parts).map { i in Tensor(shape: shape, data: Array(data[(i * per)..<((i + 1) * per)])) }
    }

    /// `x.permute(0, 2, 1)` for a rank-3 tensor: `[B, A, C]` → `[B, C, A]`.
    /// Used to move between NCHW feature maps and `[B, HW, C]` token sequences.
    public func transposedLast2() -> Tensor { OpProfiler.measure("transpose \(shape)") {
        let (b, a, c) = (shape[0], shape[1], shape[2])
        return Tensor(uninitializedShape: [b, c, a]) { o in
            data.withUnsafeBufferPointer { x in
                for n in 0..<b {
                    let base = n * a * c
                    // Blocked transpose for cache friendliness.
                    let block = 32
                    for i0 in stride(from: 0, to: a, by: block) {
                        for j0 in stride(from: 0, to: c, by: block) {
                            for i in i0..<Swift.min(a, i0 + block) {
                                for j in j0..<Swift.min(c, j0 + block) {
                                    o[base + j * a + i] = x[base + i * c + j]
                                }
                            }
                        }
                    }
                }
            }
        }
    } }

    /// `F.interpolate(x, size=(outH, outW), mode="nearest")` for NCHW: source index `floor(dst · in / out)`.
    public func upsampleNearest(height outH: Int, width outW: Int) -> Tensor { OpProfiler.measure("upsample \(shape)") {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let sh = Float(h) / Float(outH), sw = Float(w) / Float(outW)
        let srcY = (0..<outH).map { Swift.min(Int((Float($0) * sh).rounded(.down)), h - 1) }
        let srcX = (0..<outW).map { Swift.min(Int((Float($0) * sw).rounded(.down)), w - 1) }
        return Tensor(uninitializedShape: [n, c, outH, outW]) { o in
            data.withUnsafeBufferPointer { x in
                parallelFor(n * c) { p in
                    let src = p * h * w, dst = p * outH * outW
                    for y in 0..<outH {
                        let row = src + srcY[y] * w
                        for xo in 0..<outW { o[dst + y * outW + xo] = x[row + srcX[xo]] }
                    }
                }
            }
        }
    } }

    /// Largest absolute difference to another tensor of the same shape.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "compare: \(shape) vs \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = Swift.max(m, abs(data[i] - other.data[i])) }
        return m
    }
}

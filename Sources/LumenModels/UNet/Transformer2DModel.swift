import LumenTensor
import LumenWeights

/// diffusers' `BasicTransformerBlock` (`models/attention.py`, `norm_type="layer_norm"`):
/// self-attention, cross-attention on the text embedding and a GEGLU feed-forward, each
/// pre-normed with LayerNorm and added back to the residual stream.
public struct BasicTransformerBlock: Sendable {
    var norm1, norm2, norm3: LayerNorm
    var attn1, attn2: Attention
    var ffProj: Linear   // ff.net.0.proj (GEGLU: value and gate stacked)
    var ffOut: Linear    // ff.net.2
    var innerFF: Int

    public init(_ w: WeightScope, dim: Int, heads: Int, dimHead: Int, crossAttentionDim: Int) {
        norm1 = LayerNorm(w("norm1"), dim: dim, eps: 1e-5)
        attn1 = Attention(w("attn1"), queryDim: dim, heads: heads, dimHead: dimHead)
        norm2 = LayerNorm(w("norm2"), dim: dim, eps: 1e-5)
        attn2 = Attention(w("attn2"), queryDim: dim, crossAttentionDim: crossAttentionDim, heads: heads, dimHead: dimHead)
        norm3 = LayerNorm(w("norm3"), dim: dim, eps: 1e-5)
        innerFF = dim * 4
        ffProj = Linear(w("ff")("net")(0)("proj"), in: dim, out: innerFF * 2)
        ffOut = Linear(w("ff")("net")(2), in: innerFF, out: dim)
    }

    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        crossAttentionAndFeedForward(selfAttention(x), context: context)
    }

    /// The self-attention half, `x + attn1(norm1(x))`: it does not see the text, so equal items of
    /// a batch stay equal through it (see `Transformer2DModel.callAsFunction(sharedPrefix:…)`).
    func selfAttention(_ x: Tensor) -> Tensor {
        // Residuals added in place into the fresh branch outputs (no copies of the stream).
        var h = attn1(norm1(x))
        h += x
        return h
    }

    /// The rest: cross-attention on the text embedding, then the feed-forward, each with its residual.
    func crossAttentionAndFeedForward(_ h: Tensor, context: Tensor) -> Tensor {
        var a = attn2(norm2(h), context: context)
        a += h
        var f = ffOut(geglu(ffProj(norm3(a))))
        f += a
        return f
    }

    /// GEGLU (Shazeer 2020): `value · gelu(gate)` where the projection's last dim is `[value | gate]`.
    func geglu(_ x: Tensor) -> Tensor {
        let inner = innerFF
        let rows = x.count / (2 * inner)
        var shape = x.shape
        shape[shape.count - 1] = inner
        return OpProfiler.measure("geglu \(rows)×\(inner)") { Tensor(uninitializedShape: shape) { o in
            x.data.withUnsafeBufferPointer { p in
                parallelChunks(rows, minChunk: 16) { range in
                    for r in range {
                        let src = r * 2 * inner, dst = r * inner
                        VectorMath.geglu(value: p.baseAddress! + src, gate: p.baseAddress! + src + inner,
                                         o.baseAddress! + dst, count: inner)
                    }
                }
            }
        } }
    }
}

/// diffusers' `Transformer2DModel` for continuous inputs: GroupNorm, `proj_in` (1×1 conv, or a
/// linear layer when `use_linear_projection`, as in SD2), transformer blocks, `proj_out`, residual.
public struct Transformer2DModel: Sendable {
    var norm: GroupNorm
    var projIn, projOut: Conv2d?
    var projInLinear, projOutLinear: Linear?
    var blocks: [BasicTransformerBlock]

    public init(_ w: WeightScope, heads: Int, dimHead: Int, inChannels: Int, layers: Int, crossAttentionDim: Int, groups: Int, useLinearProjection: Bool) {
        let inner = heads * dimHead
        norm = GroupNorm(w("norm"), groups: groups, channels: inChannels, eps: 1e-6)
        if useLinearProjection {
            projInLinear = Linear(w("proj_in"), in: inChannels, out: inner)
            projOutLinear = Linear(w("proj_out"), in: inner, out: inChannels)
        } else {
            projIn = Conv2d(w("proj_in"), in: inChannels, out: inner, kernel: 1)
            projOut = Conv2d(w("proj_out"), in: inner, out: inChannels, kernel: 1)
        }
        blocks = (0..<layers).map {
            BasicTransformerBlock(w("transformer_blocks")($0), dim: inner, heads: heads, dimHead: dimHead, crossAttentionDim: crossAttentionDim)
        }
    }

    public func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var seq = inputTokens(x)
        for block in blocks { seq = block(seq, context: context) }
        return output(seq, residual: x)
    }

    /// The same for the batch `[x, x, …]` (`x` repeated to `context`'s batch size): GroupNorm,
    /// `proj_in` and the first block's self-attention run on `x` alone, and the batch fans out at
    /// the first cross-attention, the first operation that sees the text. Classifier-free guidance
    /// runs the UNet on `[latents, latents]`, so this is half of that work.
    public func callAsFunction(sharedPrefix x: Tensor, context: Tensor) -> Tensor {
        let repeats = context.shape[0] / x.shape[0]
        precondition(repeats * x.shape[0] == context.shape[0] && !blocks.isEmpty, "sharedPrefix: context's batch must be a multiple of x's")
        var seq = blocks[0].crossAttentionAndFeedForward(blocks[0].selfAttention(inputTokens(x)).repeatedBatch(repeats), context: context)
        for block in blocks.dropFirst() { seq = block(seq, context: context) }
        return output(seq, residual: x.repeatedBatch(repeats))
    }

    /// GroupNorm and `proj_in`: `[B, C, H, W]` → tokens `[B, HW, inner]`.
    func inputTokens(_ x: Tensor) -> Tensor {
        let y = norm(x)
        if let projIn { return tokens(fromImage: projIn(y)) }
        let projInLinear = projInLinear!
        return NN.linear(fromChannels: y, weight: projInLinear.weight, bias: projInLinear.bias) ?? projInLinear(tokens(fromImage: y))
    }

    /// `proj_out` back to `[B, C, H, W]`, plus the residual `x`.
    func output(_ seq: Tensor, residual x: Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        var y: Tensor
        if let projOutLinear, let out = NN.linear(toChannels: seq, weight: projOutLinear.weight, bias: projOutLinear.bias, residual: x) {
            return out
        }
        if let projOut {
            y = projOut(image(fromTokens: seq, height: h, width: w))
        } else {
            y = image(fromTokens: projOutLinear!(seq), height: h, width: w)
        }
        y += x
        return y
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

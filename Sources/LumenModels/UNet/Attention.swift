import LumenTensor
import LumenWeights

/// diffusers' `Attention` (`models/attention_processor.py`) for token sequences `[B, L, C]`:
/// `to_q`, `to_k`, `to_v` and `to_out.0`, with heads packed in the channel dimension.
/// `upcast_attention` only matters for fp16 compute; Lumen computes attention in fp32 anyway.
public struct Attention: Sendable {
    var toQ, toK, toV, toOut: Linear
    var heads: Int

    public init(_ w: WeightScope, queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int, bias: Bool = false, outBias: Bool = true) {
        let inner = heads * dimHead
        let kvDim = crossAttentionDim ?? queryDim
        toQ = Linear(w("to_q"), in: queryDim, out: inner, bias: bias)
        toK = Linear(w("to_k"), in: kvDim, out: inner, bias: bias)
        toV = Linear(w("to_v"), in: kvDim, out: inner, bias: bias)
        toOut = Linear(w("to_out")(0), in: inner, out: queryDim, bias: outBias)
        self.heads = heads
    }

    /// Self-attention when `context` is nil, cross-attention otherwise.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let kv = context ?? x
        return toOut(NN.attention(q: toQ(x), k: toK(kv), v: toV(kv), heads: heads))
    }
}

/// NCHW feature map → `[B, HW, C]` tokens (`x.permute(0, 2, 3, 1).reshape(B, HW, C)`).
func tokens(fromImage x: Tensor) -> Tensor {
    let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return x.reshaped([b, c, h * w]).transposedLast2()
}

/// `[B, HW, C]` tokens → NCHW feature map of height `h` and width `w`.
func image(fromTokens x: Tensor, height h: Int, width w: Int) -> Tensor {
    let (b, _, c) = (x.shape[0], x.shape[1], x.shape[2])
    return x.transposedLast2().reshaped([b, c, h, w])
}

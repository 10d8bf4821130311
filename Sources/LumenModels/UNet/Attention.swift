import Foundation
import LumenTensor
import LumenWeights

/// diffusers' `Attention` (`models/attention_processor.py`) for token sequences `[B, L, C]`:
/// `to_q`, `to_k`, `to_v` and `to_out.0`, with heads packed in the channel dimension.
/// `upcast_attention` only matters for fp16 compute; Lumen computes attention in fp32 anyway.
///
/// For self-attention the three projections read the same tokens, so they are joined at load
/// into one layer (`QKVProjections`); cross-attention keeps them apart (`to_k`/`to_v` read the text).
public struct Attention: Sendable {
    var projections: QKVProjections
    var toOut: Linear
    var heads: Int

    public init(_ w: WeightScope, queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int, bias: Bool = false, outBias: Bool = true) {
        let inner = heads * dimHead
        let kvDim = crossAttentionDim ?? queryDim
        projections = QKVProjections(q: Linear(w("to_q"), in: queryDim, out: inner, bias: bias),
                                     k: Linear(w("to_k"), in: kvDim, out: inner, bias: bias),
                                     v: Linear(w("to_v"), in: kvDim, out: inner, bias: bias),
                                     fuse: crossAttentionDim == nil)
        toOut = Linear(w("to_out")(0), in: inner, out: queryDim, bias: outBias)
        self.heads = heads
    }

    /// Self-attention when `context` is nil, cross-attention otherwise.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        toOut(projections.attention(x, context: context, heads: heads, causal: false))
    }
}

/// An attention layer's query, key and value projections: three layers, or for self-attention
/// one layer with the three weights' rows stacked, whose `[q | k | v]` rows attention reads in
/// place (`NN.attention(qkv:)`). One product three times as wide instead of three, and the
/// input rounded to bf16 once instead of three times. Random SD-Turbo at 256², Zen 5,
/// `LUMEN_PROFILE=1 lumen bench --runs 5` with `LUMEN_FUSED_QKV=0` (which keeps them apart) and
/// without, two alternating pairs: the text encoder's four 1024-wide products per layer 0.87 →
/// 0.75 ms (2.8 ms per prompt), the UNet's attention projections 24.0–25.2 → 20.9–21.8 ms per call.
public enum QKVProjections: Sendable {
    case separate(q: Linear, k: Linear, v: Linear)
    case fused(Linear)

    static let fusing = getenv("LUMEN_FUSED_QKV").map { String(cString: $0) } != "0"

    public init(q: Linear, k: Linear, v: Linear, fuse: Bool) {
        if fuse, Self.fusing, let joined = Linear.concatenating([q, k, v]) {
            self = .fused(joined)
        } else {
            self = .separate(q: q, k: k, v: v)
        }
    }

    /// `attention(q(x), k(context ?? x), v(context ?? x))`, heads merged.
    public func attention(_ x: Tensor, context: Tensor?, heads: Int, causal: Bool) -> Tensor {
        switch self {
        case let .fused(qkv):
            precondition(context == nil, "attention: a fused q/k/v projection is for self-attention only")
            return NN.attention(qkv: qkv(x), heads: heads, causal: causal)
        case let .separate(q, k, v):
            let kv = context ?? x
            return NN.attention(q: q(x), k: k(kv), v: v(kv), heads: heads, causal: causal)
        }
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

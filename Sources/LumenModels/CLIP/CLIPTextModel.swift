import LumenTensor
import LumenWeights

/// The constructor arguments of `CLIPTextModel`, as in transformers' `CLIPTextConfig`.
public struct CLIPTextConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: Activation
    public var layerNormEps: Float

    public init(vocabSize: Int = 49408, hiddenSize: Int = 768, intermediateSize: Int = 3072, numHiddenLayers: Int = 12,
                numAttentionHeads: Int = 12, maxPositionEmbeddings: Int = 77, hiddenAct: Activation = .quickGelu,
                layerNormEps: Float = 1e-5) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.hiddenAct = hiddenAct; self.layerNormEps = layerNormEps
    }

    public init(_ c: JSONConfig) throws {
        self.init(vocabSize: try c.int("vocab_size", 49408), hiddenSize: try c.int("hidden_size", 512),
                  intermediateSize: try c.int("intermediate_size", 2048), numHiddenLayers: try c.int("num_hidden_layers", 12),
                  numAttentionHeads: try c.int("num_attention_heads", 8),
                  maxPositionEmbeddings: try c.int("max_position_embeddings", 77),
                  hiddenAct: try Activation(name: c.string("hidden_act", "quick_gelu")),
                  layerNormEps: Float(try c.double("layer_norm_eps", 1e-5)))
        guard numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
            throw ModelConfigError.invalid(field: "num_attention_heads", reason: "\(numAttentionHeads) heads do not divide hidden_size \(hiddenSize)")
        }
        guard vocabSize > 0, numHiddenLayers > 0, maxPositionEmbeddings > 0, intermediateSize > 0 else {
            throw ModelConfigError.invalid(field: "hidden_size", reason: "sizes must be positive")
        }
    }
}

/// `CLIPAttention`: multi-head self-attention with a causal mask.
struct CLIPAttention: Sendable {
    /// `q_proj`, `k_proj`, `v_proj`, joined into one layer (`QKVProjections`).
    var projections: QKVProjections
    var outProj: Linear
    var heads: Int

    init(_ w: WeightScope, _ c: CLIPTextConfig) {
        let d = c.hiddenSize
        projections = QKVProjections(q: Linear(w("q_proj"), in: d, out: d), k: Linear(w("k_proj"), in: d, out: d),
                                     v: Linear(w("v_proj"), in: d, out: d), fuse: true)
        outProj = Linear(w("out_proj"), in: d, out: d)
        heads = c.numAttentionHeads
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        outProj(projections.attention(x, context: nil, heads: heads, causal: true))
    }
}

/// `CLIPEncoderLayer`: pre-norm attention and MLP blocks with residuals.
struct CLIPEncoderLayer: Sendable {
    var layerNorm1, layerNorm2: LayerNorm
    var selfAttn: CLIPAttention
    var fc1, fc2: Linear
    var act: Activation

    init(_ w: WeightScope, _ c: CLIPTextConfig) {
        layerNorm1 = LayerNorm(w("layer_norm1"), dim: c.hiddenSize, eps: c.layerNormEps)
        layerNorm2 = LayerNorm(w("layer_norm2"), dim: c.hiddenSize, eps: c.layerNormEps)
        selfAttn = CLIPAttention(w("self_attn"), c)
        fc1 = Linear(w("mlp")("fc1"), in: c.hiddenSize, out: c.intermediateSize)
        fc2 = Linear(w("mlp")("fc2"), in: c.intermediateSize, out: c.hiddenSize)
        act = c.hiddenAct
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + selfAttn(layerNorm1(x))
        return h + fc2(fc1(layerNorm2(h), then: act))
    }
}

/// The text tower of CLIP, a port of transformers' `CLIPTextModel`
/// (`models/clip/modeling_clip.py`); module paths equal its weight names (`text_model.…`).
public struct CLIPTextModel: Sendable {
    public let config: CLIPTextConfig
    /// Read in place from the weights file at its stored precision: 49 408 × 1024 for OpenCLIP
    /// ViT-H, 101 MB as fp16, of which a prompt reads 77 rows, so only those pages become
    /// resident (it was the margin that kept Lumen's peak memory under stable-diffusion.cpp's at
    /// 256², see docs/benchmarks-avx512-bf16.md).
    var tokenEmbedding: WeightTensor
    var positionEmbedding: Tensor
    var layers: [CLIPEncoderLayer]
    var finalLayerNorm: LayerNorm

    public init(_ root: WeightScope, config c: CLIPTextConfig) {
        config = c
        // transformers ≥ 5 saves the text tower without the `text_model.` prefix.
        let w = root.contains("embeddings.token_embedding.weight") ? root : root("text_model")
        tokenEmbedding = w("embeddings")("token_embedding").mappedWeight("weight", [c.vocabSize, c.hiddenSize])
        positionEmbedding = w("embeddings")("position_embedding").tensor("weight", [c.maxPositionEmbeddings, c.hiddenSize])
        root.store.ignorable.insert(w("embeddings").path("position_ids"))
        layers = (0..<c.numHiddenLayers).map { CLIPEncoderLayer(w("encoder")("layers")($0), c) }
        finalLayerNorm = LayerNorm(w("final_layer_norm"), dim: c.hiddenSize, eps: c.layerNormEps)
    }

    /// Encodes token ids `[batch][tokens]` into `[batch, tokens, hidden]`.
    ///
    /// `skipLayers = 0` returns `last_hidden_state` (after the final layer norm). `skipLayers = k`
    /// returns `hidden_states[-(k + 1)]` passed through the final layer norm, which is how diffusers
    /// applies `clip_skip` (k = 1 is the "penultimate hidden state").
    public func callAsFunction(_ ids: [[Int]], skipLayers: Int = 0) throws -> Tensor {
        let batch = ids.count
        let length = ids.first?.count ?? 0
        guard length <= config.maxPositionEmbeddings else {
            throw ModelInputError.sequenceTooLong(length: length, maximum: config.maxPositionEmbeddings)
        }
        let d = config.hiddenSize
        var x = Tensor(zeros: [batch, length, d])
        for (b, row) in ids.enumerated() {
            guard row.count == length else { throw ModelInputError.raggedBatch }
            for (t, id) in row.enumerated() {
                guard id >= 0 && id < config.vocabSize else {
                    throw ModelInputError.tokenOutOfRange(id: id, vocabularySize: config.vocabSize)
                }
                let dst = (b * length + t) * d
                tokenEmbedding.withFloatBlock(rows: id..<(id + 1), columns: 0..<d, parallel: false) { e, _ in
                    for i in 0..<d { x.data[dst + i] = e[i] + positionEmbedding.data[t * d + i] }
                }
            }
        }
        let run = layers.count - Swift.max(0, Swift.min(skipLayers, layers.count))
        for layer in layers.prefix(run) { x = layer(x) }
        return finalLayerNorm(x)
    }
}

/// Input that a model cannot process.
public enum ModelInputError: Error, CustomStringConvertible {
    case sequenceTooLong(length: Int, maximum: Int)
    case raggedBatch
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case badShape(String)

    public var description: String {
        switch self {
        case let .sequenceTooLong(l, m): "token sequence of \(l) exceeds the text encoder's \(m) positions"
        case .raggedBatch: "all token sequences in a batch must have the same length"
        case let .tokenOutOfRange(id, v): "token id \(id) is outside the vocabulary of \(v) entries (tokenizer and text encoder do not match)"
        case let .badShape(s): s
        }
    }
}

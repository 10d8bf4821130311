import Foundation
import LumenTensor
import LumenWeights

/// The constructor arguments of `UNet2DConditionModel`, read from its `config.json`.
public struct UNet2DConditionConfig: Sendable, Equatable {
    public var inChannels = 4
    public var outChannels = 4
    public var blockOutChannels = [320, 640, 1280, 1280]
    public var downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    public var upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
    public var midBlockType: String? = "UNetMidBlock2DCrossAttn"
    public var layersPerBlock = [2, 2, 2, 2]
    public var transformerLayersPerBlock = [1, 1, 1, 1]
    /// Heads per block (diffusers' `attention_head_dim` is really the number of heads when
    /// `num_attention_heads` is absent, for historical reasons).
    public var numAttentionHeads = [8, 8, 8, 8]
    public var crossAttentionDim = 768
    public var normNumGroups = 32
    public var normEps: Float = 1e-5
    public var useLinearProjection = false
    public var upcastAttention = false
    public var flipSinToCos = true
    public var freqShift = 0
    public var timeCondProjDim: Int? = nil
    public var sampleSize = 64

    public init() {}

    public init(_ c: JSONConfig) throws {
        inChannels = try c.int("in_channels", 4)
        outChannels = try c.int("out_channels", 4)
        blockOutChannels = try c.ints("block_out_channels", blockOutChannels)
        let n = blockOutChannels.count
        downBlockTypes = try c.strings("down_block_types", downBlockTypes)
        upBlockTypes = try c.strings("up_block_types", upBlockTypes)
        guard downBlockTypes.count == n, upBlockTypes.count == n else {
            throw ModelConfigError.invalid(field: "down_block_types", reason: "needs one entry per block_out_channels entry")
        }
        midBlockType = c.optionalString("mid_block_type") ?? (c.has("mid_block_type") ? nil : "UNetMidBlock2DCrossAttn")
        layersPerBlock = try c.intOrList("layers_per_block", count: n, 2)
        transformerLayersPerBlock = try c.intOrList("transformer_layers_per_block", count: n, 1)
        if c.has("num_attention_heads") {
            numAttentionHeads = try c.intOrList("num_attention_heads", count: n)
        } else {
            numAttentionHeads = try c.intOrList("attention_head_dim", count: n, 8)
        }
        crossAttentionDim = try c.int("cross_attention_dim", 768)
        normNumGroups = try c.int("norm_num_groups", 32)
        normEps = Float(try c.double("norm_eps", 1e-5))
        useLinearProjection = try c.bool("use_linear_projection", false)
        upcastAttention = try c.bool("upcast_attention", false)
        flipSinToCos = try c.bool("flip_sin_to_cos", true)
        freqShift = try c.int("freq_shift", 0)
        timeCondProjDim = c.optionalInt("time_cond_proj_dim")
        sampleSize = try c.int("sample_size", 64)
        for (field, expected) in [("act_fn", "silu"), ("resnet_time_scale_shift", "default"), ("time_embedding_type", "positional")] {
            if let v = c.optionalString(field), v != expected { throw ModelConfigError.unsupported(field: field, value: v) }
        }
        for field in ["class_embed_type", "addition_embed_type", "encoder_hid_dim"] where c.has(field) {
            throw ModelConfigError.unsupported(field: field, value: "\(c.values[field]!)")
        }
        for t in downBlockTypes where !["CrossAttnDownBlock2D", "DownBlock2D"].contains(t) {
            throw ModelConfigError.unsupported(field: "down_block_types", value: t)
        }
        for t in upBlockTypes where !["CrossAttnUpBlock2D", "UpBlock2D"].contains(t) {
            throw ModelConfigError.unsupported(field: "up_block_types", value: t)
        }
        guard normNumGroups >= 1, layersPerBlock.allSatisfy({ $0 >= 1 }), transformerLayersPerBlock.allSatisfy({ $0 >= 0 }) else {
            throw ModelConfigError.invalid(field: "layers_per_block", reason: "block sizes must be positive")
        }
        for (i, channels) in blockOutChannels.enumerated() {
            guard channels > 0, channels % normNumGroups == 0 else {
                throw ModelConfigError.invalid(field: "block_out_channels", reason: "\(channels) channels are not divisible into \(normNumGroups) groups")
            }
            guard numAttentionHeads[i] > 0, channels % numAttentionHeads[i] == 0 else {
                throw ModelConfigError.invalid(field: "attention_head_dim", reason: "\(numAttentionHeads[i]) heads do not divide \(channels) channels")
            }
        }
        if let m = midBlockType, !["UNetMidBlock2DCrossAttn", "UNetMidBlock2D"].contains(m) {
            throw ModelConfigError.unsupported(field: "mid_block_type", value: m)
        }
    }
}

/// One down block: resnets with optional transformers, then an optional stride-2 downsampler.
struct UNetDownBlock: Sendable {
    var resnets: [ResnetBlock2D]
    var attentions: [Transformer2DModel]
    var downsampler: Downsample2D?
}

/// One up block: resnets fed with concatenated skips, optional transformers, optional upsampler.
struct UNetUpBlock: Sendable {
    var resnets: [ResnetBlock2D]
    var attentions: [Transformer2DModel]
    var upsampler: Upsample2D?
}

/// A port of diffusers' `UNet2DConditionModel` (`models/unets/unet_2d_condition.py`) for the
/// Stable Diffusion 1.x / 2.x / Turbo family; property paths equal diffusers' weight names.
public struct UNet2DConditionModel: Sendable {
    public let config: UNet2DConditionConfig
    var convIn, convOut: Conv2d
    var timeLinear1, timeLinear2: Linear
    var timeCondProj: Linear?
    var downBlocks: [UNetDownBlock]
    var midResnets: [ResnetBlock2D]
    var midAttention: Transformer2DModel?
    var upBlocks: [UNetUpBlock]
    var convNormOut: GroupNorm
    /// Whether a batch made of one half repeated (classifier-free guidance's `[latents, latents]`)
    /// computes the part before the first cross-attention once (see `callAsFunction`). On by default;
    /// `LUMEN_SHARED_PREFIX=0` turns it off, for comparisons.
    public var sharesEqualItemsPrefix = ProcessInfo.processInfo.environment["LUMEN_SHARED_PREFIX"] != "0"

    public init(_ w: WeightScope, config c: UNet2DConditionConfig) {
        config = c
        let boc = c.blockOutChannels
        let temb = boc[0] * 4
        let groups = c.normNumGroups, eps = c.normEps
        convIn = Conv2d(w("conv_in"), in: c.inChannels, out: boc[0], kernel: 3, padding: 1)
        timeLinear1 = Linear(w("time_embedding")("linear_1"), in: boc[0], out: temb)
        timeLinear2 = Linear(w("time_embedding")("linear_2"), in: temb, out: temb)
        timeCondProj = c.timeCondProjDim.map { Linear(w("time_embedding")("cond_proj"), in: $0, out: boc[0], bias: false) }

        func transformer(_ s: WeightScope, channels: Int, heads: Int, layers: Int) -> Transformer2DModel {
            Transformer2DModel(s, heads: heads, dimHead: channels / heads, inChannels: channels, layers: layers,
                               crossAttentionDim: c.crossAttentionDim, groups: groups, useLinearProjection: c.useLinearProjection)
        }

        var down: [UNetDownBlock] = []
        var outputChannel = boc[0]
        for (i, type) in c.downBlockTypes.enumerated() {
            let inputChannel = outputChannel
            outputChannel = boc[i]
            let isFinal = i == boc.count - 1
            let s = w("down_blocks")(i)
            let resnets = (0..<c.layersPerBlock[i]).map {
                ResnetBlock2D(s("resnets")($0), in: $0 == 0 ? inputChannel : outputChannel, out: outputChannel,
                              tembChannels: temb, groups: groups, eps: eps)
            }
            let attentions = type == "CrossAttnDownBlock2D" ? (0..<c.layersPerBlock[i]).map {
                transformer(s("attentions")($0), channels: outputChannel, heads: c.numAttentionHeads[i], layers: c.transformerLayersPerBlock[i])
            } : []
            let downsampler = isFinal ? nil : Downsample2D(s("downsamplers")(0), channels: outputChannel, padding: 1)
            down.append(UNetDownBlock(resnets: resnets, attentions: attentions, downsampler: downsampler))
        }
        downBlocks = down

        let midChannels = boc[boc.count - 1]
        if let midType = c.midBlockType {
            let s = w("mid_block")
            midResnets = (0..<2).map {
                ResnetBlock2D(s("resnets")($0), in: midChannels, out: midChannels, tembChannels: temb, groups: groups, eps: eps)
            }
            midAttention = midType == "UNetMidBlock2DCrossAttn"
                ? transformer(s("attentions")(0), channels: midChannels, heads: c.numAttentionHeads.last!, layers: c.transformerLayersPerBlock.last!)
                : nil
        } else {
            midResnets = []
        }

        let reversed = Array(boc.reversed())
        let reversedHeads = Array(c.numAttentionHeads.reversed())
        let reversedLayers = Array(c.layersPerBlock.reversed())
        let reversedTransformerLayers = Array(c.transformerLayersPerBlock.reversed())
        var up: [UNetUpBlock] = []
        outputChannel = reversed[0]
        for (i, type) in c.upBlockTypes.enumerated() {
            let isFinal = i == boc.count - 1
            let prevOutputChannel = outputChannel
            outputChannel = reversed[i]
            let inputChannel = reversed[Swift.min(i + 1, boc.count - 1)]
            let layers = reversedLayers[i] + 1
            let s = w("up_blocks")(i)
            let resnets = (0..<layers).map { j -> ResnetBlock2D in
                let skip = j == layers - 1 ? inputChannel : outputChannel
                let resIn = j == 0 ? prevOutputChannel : outputChannel
                return ResnetBlock2D(s("resnets")(j), in: resIn + skip, out: outputChannel, tembChannels: temb, groups: groups, eps: eps)
            }
            let attentions = type == "CrossAttnUpBlock2D" ? (0..<layers).map {
                transformer(s("attentions")($0), channels: outputChannel, heads: reversedHeads[i], layers: reversedTransformerLayers[i])
            } : []
            let upsampler = isFinal ? nil : Upsample2D(s("upsamplers")(0), channels: outputChannel)
            up.append(UNetUpBlock(resnets: resnets, attentions: attentions, upsampler: upsampler))
        }
        upBlocks = up
        convNormOut = GroupNorm(w("conv_norm_out"), groups: groups, channels: boc[0], eps: eps)
        convOut = Conv2d(w("conv_out"), in: boc[0], out: c.outChannels, kernel: 3, padding: 1)
    }

    /// diffusers' `get_timestep_embedding` in fp32: `[sin | cos]` (or `[cos | sin]` with `flip_sin_to_cos`).
    public static func timestepEmbedding(_ t: Float, dim: Int, flipSinToCos: Bool, freqShift: Int) -> [Float] {
        let half = dim / 2
        var out = [Float](repeating: 0, count: dim)
        for i in 0..<half {
            let exponent = -Float(log(10000.0)) * Float(i) / (Float(half) - Float(freqShift))
            let arg = t * Foundation.exp(exponent)
            let (s, c) = (Foundation.sin(arg), Foundation.cos(arg))
            out[i] = flipSinToCos ? c : s
            out[half + i] = flipSinToCos ? s : c
        }
        return out
    }

    /// Predicts noise (or v, or x₀, per the scheduler's `prediction_type`) for `sample`
    /// `[B, C, H, W]` at `timestep`, conditioned on `context` `[B, L, cross_attention_dim]`.
    /// `timestepCond` is the guidance embedding of LCM-distilled models (`time_cond_proj_dim`).
    public func callAsFunction(_ sample: Tensor, timestep: Float, context: Tensor, timestepCond: Tensor? = nil) throws -> Tensor {
        let b = sample.shape[0]
        guard sample.rank == 4, sample.shape[1] == config.inChannels else {
            throw ModelInputError.badShape("UNet expects latents [B, \(config.inChannels), H, W], got \(sample.shape)")
        }
        guard context.rank == 3, context.shape[0] == b, context.shape[2] == config.crossAttentionDim else {
            throw ModelInputError.badShape("UNet expects text embeddings [\(b), L, \(config.crossAttentionDim)], got \(context.shape)")
        }
        let dim0 = config.blockOutChannels[0]
        let emb = Self.timestepEmbedding(timestep, dim: dim0, flipSinToCos: config.flipSinToCos, freqShift: config.freqShift)
        var tEmb = Tensor(shape: [b, dim0], data: Array((0..<b).map { _ in emb }.joined()))
        if let timeCondProj {
            guard let timestepCond else {
                throw ModelInputError.badShape("this UNet needs a guidance embedding (time_cond_proj_dim = \(config.timeCondProjDim!))")
            }
            tEmb = tEmb + timeCondProj(timestepCond)
        }
        let temb = timeLinear2(timeLinear1(tEmb).silu()).silu()  // activated once, as each resnet applies SiLU first

        // Classifier-free guidance calls the UNet on `[latents, latents]` at one timestep: until the
        // first cross-attention both halves compute the same values. When the halves are equal, that
        // prefix (conv_in, the resnets and self-attention before the first cross-attention: the whole
        // full-resolution down level for a UNet whose first block has no attention) runs on one half
        // and the batch fans out there. diffusers recomputes it; each item's arithmetic is the same.
        var items = sharesEqualItemsPrefix && sample.batchHalvesEqual() && temb.batchHalvesEqual() ? b / 2 : b
        let tembHalf = items < b ? temb.firstBatchHalf() : temb
        var h = convIn(items < b ? sample.firstBatchHalf() : sample)
        var skips: [Tensor] = [h]
        /// Continues with the whole batch: `full` is the current activation for all items.
        func fanOut(_ full: Tensor) {
            h = full
            skips = skips.map { $0.repeatedBatch(2) }
            items = b
        }
        func attend(_ attention: Transformer2DModel) {
            if items == b { h = attention(h, context: context) } else { fanOut(attention(sharedPrefix: h, context: context)) }
        }
        for block in downBlocks {
            for (j, resnet) in block.resnets.enumerated() {
                h = resnet(h, temb: items == b ? temb : tembHalf)
                if !block.attentions.isEmpty { attend(block.attentions[j]) }
                skips.append(h)
            }
            if let d = block.downsampler {
                h = d(h)
                skips.append(h)
            }
        }
        if !midResnets.isEmpty {
            h = midResnets[0](h, temb: items == b ? temb : tembHalf)
            if let midAttention { attend(midAttention) }
            h = midResnets[1](h, temb: items == b ? temb : tembHalf)
        }
        if items < b { fanOut(h.repeatedBatch(2)) }
        for block in upBlocks {
            for (j, resnet) in block.resnets.enumerated() {
                let skip = skips.removeLast()
                h = resnet(Tensor.concatChannels([h, skip]), temb: temb)
                if !block.attentions.isEmpty { h = block.attentions[j](h, context: context) }
            }
            if let u = block.upsampler {
                // Upsample to the next skip's size, which equals ×2 unless the latent size is odd.
                let next = skips.last!
                h = u(h, size: (next.shape[2], next.shape[3]))
            }
        }
        return convOut(convNormOut(h, silu: true))
    }
}

import LumenTensor
import LumenWeights

/// The constructor arguments of `AutoencoderKL`, read from the VAE's `config.json`.
public struct AutoencoderKLConfig: Sendable, Equatable {
    public var inChannels = 3
    public var outChannels = 3
    public var latentChannels = 4
    public var blockOutChannels = [128, 256, 512, 512]
    public var layersPerBlock = 2
    public var normNumGroups = 32
    public var scalingFactor: Float = 0.18215
    public var shiftFactor: Float? = nil
    public var useQuantConv = true
    public var usePostQuantConv = true
    public var midBlockAddAttention = true

    public init() {}

    public init(_ c: JSONConfig) throws {
        inChannels = try c.int("in_channels", 3)
        outChannels = try c.int("out_channels", 3)
        latentChannels = try c.int("latent_channels", 4)
        blockOutChannels = try c.ints("block_out_channels", blockOutChannels)
        layersPerBlock = try c.int("layers_per_block", 2)
        normNumGroups = try c.int("norm_num_groups", 32)
        scalingFactor = Float(try c.double("scaling_factor", 0.18215))
        shiftFactor = c.has("shift_factor") ? Float(try c.double("shift_factor")) : nil
        useQuantConv = try c.bool("use_quant_conv", true)
        usePostQuantConv = try c.bool("use_post_quant_conv", true)
        midBlockAddAttention = try c.bool("mid_block_add_attention", true)
        if let act = c.optionalString("act_fn"), act != "silu" { throw ModelConfigError.unsupported(field: "act_fn", value: act) }
        for t in try c.strings("down_block_types", []) where t != "DownEncoderBlock2D" {
            throw ModelConfigError.unsupported(field: "down_block_types", value: t)
        }
        for t in try c.strings("up_block_types", []) where t != "UpDecoderBlock2D" {
            throw ModelConfigError.unsupported(field: "up_block_types", value: t)
        }
        guard !blockOutChannels.isEmpty, layersPerBlock >= 1, latentChannels >= 1, normNumGroups >= 1 else {
            throw ModelConfigError.invalid(field: "block_out_channels", reason: "sizes must be positive")
        }
        for channels in blockOutChannels where channels <= 0 || channels % normNumGroups != 0 {
            throw ModelConfigError.invalid(field: "block_out_channels", reason: "\(channels) channels are not divisible into \(normNumGroups) groups")
        }
    }
}

/// The VAE's single-head spatial self-attention (diffusers `Attention` with `group_norm`,
/// biases on q/k/v and a residual connection), used in `UNetMidBlock2D`.
struct VAEAttention: Sendable {
    var groupNorm: GroupNorm
    var attention: Attention

    init(_ w: WeightScope, channels: Int, groups: Int) {
        groupNorm = GroupNorm(w("group_norm"), groups: groups, channels: channels, eps: 1e-6)
        attention = Attention(w, queryDim: channels, heads: 1, dimHead: channels, bias: true)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        let seq = tokens(fromImage: groupNorm(x))
        var out = image(fromTokens: attention(seq), height: h, width: w)
        out += x
        return out
    }
}

/// diffusers' `UNetMidBlock2D` without time embedding: resnet, attention, resnet.
struct VAEMidBlock: Sendable {
    var resnets: [ResnetBlock2D]
    var attention: VAEAttention?

    init(_ w: WeightScope, channels: Int, groups: Int, addAttention: Bool) {
        resnets = (0..<2).map { ResnetBlock2D(w("resnets")($0), in: channels, out: channels, tembChannels: nil, groups: groups, eps: 1e-6) }
        attention = addAttention ? VAEAttention(w("attentions")(0), channels: channels, groups: groups) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = resnets[0](x, temb: nil)
        if let attention { h = attention(h) }
        return resnets[1](h, temb: nil)
    }
}

/// diffusers' VAE `Encoder` (`models/autoencoders/vae.py`).
struct VAEEncoder: Sendable {
    var convIn, convOut: Conv2d
    var blocks: [(resnets: [ResnetBlock2D], downsampler: Downsample2D?)]
    var mid: VAEMidBlock
    var convNormOut: GroupNorm

    init(_ w: WeightScope, _ c: AutoencoderKLConfig) {
        let boc = c.blockOutChannels, g = c.normNumGroups
        convIn = Conv2d(w("conv_in"), in: c.inChannels, out: boc[0], kernel: 3, padding: 1)
        var out = boc[0]
        blocks = boc.indices.map { i in
            let input = out
            out = boc[i]
            let s = w("down_blocks")(i)
            let resnets = (0..<c.layersPerBlock).map { [out] j in
                ResnetBlock2D(s("resnets")(j), in: j == 0 ? input : out, out: out, tembChannels: nil, groups: g, eps: 1e-6)
            }
            let down = i == boc.count - 1 ? nil : Downsample2D(s("downsamplers")(0), channels: out, padding: 0)
            return (resnets, down)
        }
        mid = VAEMidBlock(w("mid_block"), channels: boc.last!, groups: g, addAttention: c.midBlockAddAttention)
        convNormOut = GroupNorm(w("conv_norm_out"), groups: g, channels: boc.last!, eps: 1e-6)
        convOut = Conv2d(w("conv_out"), in: boc.last!, out: 2 * c.latentChannels, kernel: 3, padding: 1)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = convIn(x)
        for block in blocks {
            for r in block.resnets { h = r(h, temb: nil) }
            if let d = block.downsampler { h = d(h) }
        }
        return convOut(convNormOut(mid(h), silu: true))
    }
}

/// diffusers' VAE `Decoder` (`models/autoencoders/vae.py`).
struct VAEDecoder: Sendable {
    var convIn, convOut: Conv2d
    var mid: VAEMidBlock
    var blocks: [(resnets: [ResnetBlock2D], upsampler: Upsample2D?)]
    var convNormOut: GroupNorm

    init(_ w: WeightScope, _ c: AutoencoderKLConfig) {
        let boc = c.blockOutChannels, g = c.normNumGroups
        let reversed = Array(boc.reversed())
        convIn = Conv2d(w("conv_in"), in: c.latentChannels, out: reversed[0], kernel: 3, padding: 1)
        mid = VAEMidBlock(w("mid_block"), channels: reversed[0], groups: g, addAttention: c.midBlockAddAttention)
        var out = reversed[0]
        blocks = reversed.indices.map { i in
            let prev = out
            out = reversed[i]
            let s = w("up_blocks")(i)
            let resnets = (0...c.layersPerBlock).map { [out] j in
                ResnetBlock2D(s("resnets")(j), in: j == 0 ? prev : out, out: out, tembChannels: nil, groups: g, eps: 1e-6)
            }
            let up = i == boc.count - 1 ? nil : Upsample2D(s("upsamplers")(0), channels: out)
            return (resnets, up)
        }
        convNormOut = GroupNorm(w("conv_norm_out"), groups: g, channels: boc[0], eps: 1e-6)
        convOut = Conv2d(w("conv_out"), in: boc[0], out: c.outChannels, kernel: 3, padding: 1)
    }

    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = mid(convIn(z))
        for block in blocks {
            for r in block.resnets { h = r(h, temb: nil) }
            if let u = block.upsampler { h = u(h) }
        }
        return convOut(convNormOut(h, silu: true))
    }
}

/// A port of diffusers' `AutoencoderKL` (`models/autoencoders/autoencoder_kl.py`), the
/// Stable Diffusion VAE: images in [-1, 1] ↔ latents 8× smaller.
public struct AutoencoderKL: Sendable {
    public let config: AutoencoderKLConfig
    var encoder: VAEEncoder
    var decoder: VAEDecoder
    var quantConv, postQuantConv: Conv2d?

    public init(_ w: WeightScope, config c: AutoencoderKLConfig) {
        config = c
        encoder = VAEEncoder(w("encoder"), c)
        decoder = VAEDecoder(w("decoder"), c)
        quantConv = c.useQuantConv ? Conv2d(w("quant_conv"), in: 2 * c.latentChannels, out: 2 * c.latentChannels, kernel: 1) : nil
        postQuantConv = c.usePostQuantConv ? Conv2d(w("post_quant_conv"), in: c.latentChannels, out: c.latentChannels, kernel: 1) : nil
    }

    /// Decodes raw (unscaled) latents into an image in [-1, 1] (`vae.decode(z).sample`).
    public func decode(_ z: Tensor) -> Tensor {
        decoder(postQuantConv.map { $0(z) } ?? z)
    }

    /// Encodes an image in [-1, 1] into the latent distribution's mean and log-variance
    /// (`vae.encode(x).latent_dist`, log-variance clamped to [-30, 20] as diffusers does).
    public func encode(_ x: Tensor) -> (mean: Tensor, logvar: Tensor) {
        var moments = encoder(x)
        if let quantConv { moments = quantConv(moments) }
        let (b, c2, h, w) = (moments.shape[0], moments.shape[1], moments.shape[2], moments.shape[3])
        let c = c2 / 2, plane = c * h * w
        var mean = Tensor(zeros: [b, c, h, w]), logvar = Tensor(zeros: [b, c, h, w])
        for i in 0..<b {
            for j in 0..<plane {
                mean.data[i * plane + j] = moments.data[i * 2 * plane + j]
                logvar.data[i * plane + j] = Swift.min(Swift.max(moments.data[i * 2 * plane + plane + j], -30), 20)
            }
        }
        return (mean, logvar)
    }
}

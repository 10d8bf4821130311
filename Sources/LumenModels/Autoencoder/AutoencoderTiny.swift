import Foundation
import LumenTensor
import LumenWeights

/// The constructor arguments of `AutoencoderTiny` (TAESD).
public struct AutoencoderTinyConfig: Sendable, Equatable {
    public var inChannels = 3
    public var outChannels = 3
    public var latentChannels = 4
    public var encoderBlockOutChannels = [64, 64, 64, 64]
    public var decoderBlockOutChannels = [64, 64, 64, 64]
    public var numEncoderBlocks = [1, 3, 3, 3]
    public var numDecoderBlocks = [3, 3, 3, 1]
    public var upsamplingScalingFactor = 2
    public var act: Activation = .relu
    public var scalingFactor: Float = 1.0

    public init() {}

    public init(_ c: JSONConfig) throws {
        inChannels = try c.int("in_channels", 3)
        outChannels = try c.int("out_channels", 3)
        latentChannels = try c.int("latent_channels", 4)
        encoderBlockOutChannels = try c.ints("encoder_block_out_channels", encoderBlockOutChannels)
        decoderBlockOutChannels = try c.ints("decoder_block_out_channels", decoderBlockOutChannels)
        numEncoderBlocks = try c.ints("num_encoder_blocks", numEncoderBlocks)
        numDecoderBlocks = try c.ints("num_decoder_blocks", numDecoderBlocks)
        upsamplingScalingFactor = try c.int("upsampling_scaling_factor", 2)
        act = try Activation(name: c.string("act_fn", "relu"))
        scalingFactor = Float(try c.double("scaling_factor", 1.0))
        if let f = c.optionalString("upsample_fn"), f != "nearest" { throw ModelConfigError.unsupported(field: "upsample_fn", value: f) }
        guard encoderBlockOutChannels.count == numEncoderBlocks.count, decoderBlockOutChannels.count == numDecoderBlocks.count else {
            throw ModelConfigError.invalid(field: "num_encoder_blocks", reason: "must have one entry per block_out_channels entry")
        }
    }
}

/// One entry of TAESD's `nn.Sequential` `layers`.
enum TinyLayer: Sendable {
    case conv(Conv2d)
    case act(Activation)
    case block(conv: [Conv2d], skip: Conv2d?, act: Activation)
    case upsample(Int)

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case let .conv(c): return c(x)
        case let .act(a): return a(x)
        case let .block(conv, skip, act):
            // AutoencoderTinyBlock: relu(conv(act(conv(act(conv(x))))) + skip(x)), each
            // activation, the skip's addition and the last ReLU done as the convolutions write.
            let h = conv[1](conv[0](x, then: act), then: act)
            return conv[2](h, adding: skip.map { $0(x) } ?? x, then: .relu)
        case let .upsample(f): return x.upsampleNearest(height: x.shape[2] * f, width: x.shape[3] * f)
        }
    }

    static func block(_ w: WeightScope, in i: Int, out o: Int, act: Activation) -> TinyLayer {
        let convs = [Conv2d(w("conv")(0), in: i, out: o, kernel: 3, padding: 1),
                     Conv2d(w("conv")(2), in: o, out: o, kernel: 3, padding: 1),
                     Conv2d(w("conv")(4), in: o, out: o, kernel: 3, padding: 1)]
        let skip = i != o ? Conv2d(w("skip"), in: i, out: o, kernel: 1, bias: false) : nil
        return .block(conv: convs, skip: skip, act: act)
    }
}

/// A port of diffusers' `AutoencoderTiny` (`models/autoencoders/autoencoder_tiny.py`), the
/// TAESD tiny autoencoder by Ollin Boer Bohan (github.com/madebyollin/taesd): a cheap
/// drop-in decoder for Stable Diffusion latents.
public struct AutoencoderTiny: Sendable {
    public let config: AutoencoderTinyConfig
    var encoderLayers: [TinyLayer]
    var decoderLayers: [TinyLayer]

    public init(_ w: WeightScope, config c: AutoencoderTinyConfig) {
        config = c
        var enc: [TinyLayer] = []
        let e = w("encoder")("layers")
        for (i, blocks) in c.numEncoderBlocks.enumerated() {
            let ch = c.encoderBlockOutChannels[i]
            let index = enc.count
            enc.append(.conv(i == 0
                ? Conv2d(e(index), in: c.inChannels, out: ch, kernel: 3, padding: 1)
                : Conv2d(e(index), in: ch, out: ch, kernel: 3, stride: 2, padding: 1, bias: false)))
            for _ in 0..<blocks { enc.append(.block(e(enc.count), in: ch, out: ch, act: c.act)) }
        }
        enc.append(.conv(Conv2d(e(enc.count), in: c.encoderBlockOutChannels.last!, out: c.latentChannels, kernel: 3, padding: 1)))
        encoderLayers = enc

        var dec: [TinyLayer] = []
        let d = w("decoder")("layers")
        dec.append(.conv(Conv2d(d(0), in: c.latentChannels, out: c.decoderBlockOutChannels[0], kernel: 3, padding: 1)))
        dec.append(.act(c.act))
        for (i, blocks) in c.numDecoderBlocks.enumerated() {
            let isFinal = i == c.numDecoderBlocks.count - 1
            let ch = c.decoderBlockOutChannels[i]
            for _ in 0..<blocks { dec.append(.block(d(dec.count), in: ch, out: ch, act: c.act)) }
            if !isFinal { dec.append(.upsample(c.upsamplingScalingFactor)) }
            dec.append(.conv(Conv2d(d(dec.count), in: ch, out: isFinal ? c.outChannels : ch, kernel: 3, padding: 1, bias: isFinal)))
        }
        decoderLayers = dec
    }

    /// Decodes latents into an image in [-1, 1] (`DecoderTiny.forward`: soft clamp `tanh(x/3)·3`, layers, `2x − 1`).
    public func decode(_ z: Tensor) -> Tensor {
        var h = z.map { Foundation.tanh($0 / 3) * 3 }
        for layer in decoderLayers { h = layer(h) }
        return h.map { $0 * 2 - 1 }
    }

    /// Encodes an image in [-1, 1] into latents (`EncoderTiny.forward`).
    public func encode(_ x: Tensor) -> Tensor {
        var h = x.map { ($0 + 1) / 2 }
        for layer in encoderLayers { h = layer(h) }
        return h
    }
}

import LumenTensor
import LumenWeights

/// diffusers' `ResnetBlock2D` (`models/resnet.py`) with `time_embedding_norm="default"`:
/// GroupNorm → SiLU → conv, plus the projected time embedding, GroupNorm → SiLU → conv,
/// and a 1×1 `conv_shortcut` when the channel count changes.
public struct ResnetBlock2D: Sendable {
    var norm1, norm2: GroupNorm
    var conv1, conv2: Conv2d
    var timeEmbProj: Linear?
    var convShortcut: Conv2d?
    var outputScaleFactor: Float

    public init(_ w: WeightScope, in inChannels: Int, out outChannels: Int, tembChannels: Int?, groups: Int, eps: Float, outputScaleFactor: Float = 1) {
        norm1 = GroupNorm(w("norm1"), groups: groups, channels: inChannels, eps: eps)
        conv1 = Conv2d(w("conv1"), in: inChannels, out: outChannels, kernel: 3, padding: 1)
        timeEmbProj = tembChannels.map { Linear(w("time_emb_proj"), in: $0, out: outChannels) }
        norm2 = GroupNorm(w("norm2"), groups: groups, channels: outChannels, eps: eps)
        conv2 = Conv2d(w("conv2"), in: outChannels, out: outChannels, kernel: 3, padding: 1)
        convShortcut = inChannels != outChannels ? Conv2d(w("conv_shortcut"), in: inChannels, out: outChannels, kernel: 1) : nil
        self.outputScaleFactor = outputScaleFactor
    }

    /// `temb` is the already-activated time embedding (`silu(temb)`), shared by all blocks.
    public func callAsFunction(_ x: Tensor, temb: Tensor?) -> Tensor {
        let normed = norm1(x, silu: true)
        let h: Tensor
        if let timeEmbProj, let temb {
            // The projected time embedding joins conv1's bias (no pass over its output).
            h = conv1(normed, addingChannelBias: timeEmbProj(temb))
        } else {
            h = conv1(normed)
        }
        var out = conv2(norm2(h, silu: true))
        out += convShortcut.map { $0(x) } ?? x  // in place on the fresh branch: no copy of x
        if outputScaleFactor != 1 { out = out / outputScaleFactor }
        return out
    }
}

/// diffusers' `Downsample2D` with a convolution (`conv`, stride 2). With `padding == 0` it pads
/// one pixel on the right and bottom first, as the VAE encoder does.
public struct Downsample2D: Sendable {
    var conv: Conv2d
    var padding: Int

    public init(_ w: WeightScope, channels: Int, padding: Int) {
        conv = Conv2d(w("conv"), in: channels, out: channels, kernel: 3, stride: 2, padding: padding)
        self.padding = padding
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        padding == 0 ? conv(x, padding: NN.Padding(top: 0, left: 0, bottom: 1, right: 1)) : conv(x)
    }
}

/// diffusers' `Upsample2D` with a convolution: nearest-neighbour upsampling (×2, or to the size
/// of the matching skip connection when the latent is not divisible) followed by a 3×3 `conv`.
public struct Upsample2D: Sendable {
    var conv: Conv2d

    public init(_ w: WeightScope, channels: Int) {
        conv = Conv2d(w("conv"), in: channels, out: channels, kernel: 3, padding: 1)
    }

    public func callAsFunction(_ x: Tensor, size: (Int, Int)? = nil) -> Tensor {
        let (h, w) = size ?? (x.shape[2] * 2, x.shape[3] * 2)
        return conv(x.upsampleNearest(height: h, width: w))
    }
}

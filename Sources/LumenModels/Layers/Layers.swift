import LumenTensor
import LumenWeights

/// `torch.nn.Linear` (`weight` `[out, in]`, optional `bias`); the weight stays at its stored
/// precision (see `WeightTensor`).
public struct Linear: Sendable {
    public var weight: WeightTensor
    public var bias: Tensor?

    public init(_ w: WeightScope, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) {
        weight = w.weight("weight", [outFeatures, inFeatures])
        bias = hasBias ? w.tensor("bias", [outFeatures]) : nil
    }

    public init(weight: WeightTensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { NN.linear(x, weight: weight, bias: bias) }

    /// One layer computing `parts` side by side (outputs concatenated in order) for layers that
    /// read the same input; a missing bias counts as zeros. Nil when the weights cannot be joined
    /// (`WeightTensor(concatenatingRows:)`).
    public static func concatenating(_ parts: [Linear]) -> Linear? {
        guard let weight = WeightTensor(concatenatingRows: parts.map(\.weight)) else { return nil }
        guard parts.contains(where: { $0.bias != nil }) else { return Linear(weight: weight, bias: nil) }
        let bias = parts.flatMap { $0.bias?.data ?? [Float](repeating: 0, count: $0.weight.rows) }
        return Linear(weight: weight, bias: Tensor(shape: [bias.count], data: bias))
    }

    /// `activation(self(x))`, the activation fused into the product where it can be
    /// (`NN.linear(_:weight:bias:activation:)`).
    public func callAsFunction(_ x: Tensor, then activation: Activation) -> Tensor {
        guard let fused = activation.fusable else { return activation(self(x)) }
        return NN.linear(x, weight: weight, bias: bias, activation: fused)
    }
}

/// `torch.nn.Conv2d` (NCHW); the weight stays at its stored precision (see `WeightTensor`).
public struct Conv2d: Sendable {
    public var weight: WeightTensor
    public var bias: Tensor?
    public var stride: Int
    public var padding: NN.Padding

    public init(_ w: WeightScope, in inChannels: Int, out outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, bias hasBias: Bool = true) {
        weight = w.weight("weight", [outChannels, inChannels, kernel, kernel])
        bias = hasBias ? w.tensor("bias", [outChannels]) : nil
        self.stride = stride
        self.padding = .same(padding)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }

    /// `activation(self(x) + residual)`, both done as Winograd writes its results where it
    /// runs the convolution (`NN.conv2d(_:weight:bias:stride:padding:adding:then:)`).
    public func callAsFunction(_ x: Tensor, adding residual: Tensor? = nil, then activation: Activation) -> Tensor {
        let y = NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, adding: residual, then: activation.fusable)
        return activation.fusable == nil ? activation(y) : y
    }

    /// `self(x)` plus a per-channel `extra` (`[C]`, or `[B, C]` with one value per item and
    /// channel), added by the convolution as part of its bias when every item's row is the same
    /// (one picture, or a guided batch at one timestep), instead of as a pass over the output.
    public func callAsFunction(_ x: Tensor, addingChannelBias extra: Tensor) -> Tensor {
        let c = weight.rows
        let itemsEqual = extra.count == c || (extra.count % c == 0 && extra.data.withUnsafeBufferPointer { e in
            (1..<(extra.count / c)).allSatisfy { i in (0..<c).allSatisfy { e[i * c + $0] == e[$0] } }
        })
        guard itemsEqual else {
            var y = self(x)
            y.addChannelBias(extra)
            return y
        }
        let joined = (0..<c).map { (bias?.data[$0] ?? 0) + extra.data[$0] }
        return NN.conv2d(x, weight: weight, bias: Tensor(shape: [c], data: joined), stride: stride, padding: padding)
    }

    /// Convolution with explicit padding (e.g. diffusers' `Downsample2D` with `padding=0`,
    /// which pads right and bottom by one pixel before a stride-2 convolution).
    public func callAsFunction(_ x: Tensor, padding explicit: NN.Padding) -> Tensor {
        NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: explicit)
    }
}

/// `torch.nn.GroupNorm` (affine).
public struct GroupNorm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
    public var groups: Int
    public var eps: Float

    public init(_ w: WeightScope, groups: Int, channels: Int, eps: Float) {
        weight = w.tensor("weight", [channels])
        bias = w.tensor("bias", [channels])
        self.groups = groups
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        NN.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu)
    }
}

/// `torch.nn.LayerNorm` over the last dimension (affine).
public struct LayerNorm: Sendable {
    public var weight: Tensor
    public var bias: Tensor
    public var eps: Float

    public init(_ w: WeightScope, dim: Int, eps: Float) {
        weight = w.tensor("weight", [dim])
        bias = w.tensor("bias", [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { NN.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// Activation functions by their diffusers/transformers config names.
public enum Activation: String, Sendable {
    case silu, swish, relu, gelu, quickGelu = "quick_gelu", tanh

    public init(name: String) throws {
        guard let a = Activation(rawValue: name) else { throw ModelConfigError.unsupported(field: "act_fn", value: name) }
        self = a
    }

    /// The same activation as a product can apply while writing its results, if it can.
    var fusable: NN.Activation? {
        switch self {
        case .silu, .swish: .silu
        case .relu: .relu
        case .gelu: .gelu
        case .quickGelu: .quickGelu
        case .tanh: nil
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .silu, .swish: x.silu()
        case .relu: x.relu()
        case .gelu: x.gelu()
        case .quickGelu: x.quickGelu()
        case .tanh: x.tanh()
        }
    }
}

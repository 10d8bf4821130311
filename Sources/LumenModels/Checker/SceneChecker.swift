import Foundation
import LumenTensor
import LumenWeights

/// Configuration of a `SceneChecker`, read from its `config.json` (written by
/// `training/train_checker.py`; field names are the PyTorch constructor's arguments).
public struct SceneCheckerConfig: Sendable {
    public var imageSize: Int
    public var blockOutChannels: [Int]
    public var hiddenSize: Int
    public var normNumGroups: Int
    /// Output heads in order, each a name and its number of classes.
    public var heads: [(name: String, classes: Int)]
    /// Class names per label family (`shape`, `color`, `biome`, `time_of_day`, `style`, `count`).
    public var labels: [String: [String]]
    public var slots: Int

    public init(_ c: JSONConfig) throws {
        imageSize = try c.int("image_size")
        blockOutChannels = try c.ints("block_out_channels")
        hiddenSize = try c.int("hidden_size")
        normNumGroups = try c.int("norm_num_groups")
        slots = try c.int("slots")
        guard let rawHeads = c.values["heads"] as? [[Any]] else { throw ModelConfigError.invalid(field: "heads", reason: "expected a list of [name, classes]") }
        heads = try rawHeads.map { pair in
            guard pair.count == 2, let name = pair[0] as? String, let k = pair[1] as? Int, k > 0 else {
                throw ModelConfigError.invalid(field: "heads", reason: "expected [name, classes] pairs")
            }
            return (name, k)
        }
        guard let rawLabels = c.values["labels"] as? [String: [String]] else { throw ModelConfigError.invalid(field: "labels", reason: "expected lists of class names") }
        labels = rawLabels
        guard blockOutChannels.count >= 2, imageSize >> (blockOutChannels.count - 1) >= 1, imageSize % (1 << (blockOutChannels.count - 1)) == 0 else {
            throw ModelConfigError.invalid(field: "block_out_channels", reason: "image_size \(imageSize) must halve \(blockOutChannels.count - 1) times")
        }
        for (name, k) in heads {
            let family = name.hasSuffix("_shape") ? "shape" : name.hasSuffix("_color") ? "color" : name
            guard labels[family]?.count == k else {
                throw ModelConfigError.invalid(field: "labels", reason: "head '\(name)' has \(k) classes but labels['\(family)'] does not")
            }
        }
    }
}

/// What the checker reads in one picture.
public struct CheckerReading: Sendable, Equatable {
    /// Predicted class name per head (`count`, `biome`, `time_of_day`, `style`, `slot0_shape`, …).
    public var labels: [String: String]
    /// Visible objects left to right, `(shape, color)`; "none" slots dropped.
    public var objects: [(shape: String, color: String)]

    public init(labels: [String: String], objects: [(shape: String, color: String)]) {
        self.labels = labels
        self.objects = objects
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.labels == b.labels && a.objects.map { "\($0.shape) \($0.color)" } == b.objects.map { "\($0.shape) \($0.color)" }
    }
}

/// The scene checker of `lumen eval`: a small CNN trained on scene-studio renders
/// (`training/checker.py`) that reads back object count, biome, time of day, style and up to five
/// objects left to right. Property paths equal its PyTorch weight names.
///
/// `conv_in` → SiLU → blocks (stride-2 conv, GroupNorm, SiLU; residual conv, GroupNorm, SiLU) →
/// flatten → `features` (SiLU; also the embedding for the Fréchet distance) → `head`.
public struct SceneChecker: Sendable {
    public struct Block: Sendable {
        public var conv1: Conv2d, norm1: GroupNorm, conv2: Conv2d, norm2: GroupNorm
        init(_ w: WeightScope, in cin: Int, out cout: Int, groups: Int) {
            conv1 = Conv2d(w("conv1"), in: cin, out: cout, kernel: 3, stride: 2, padding: 1)
            norm1 = GroupNorm(w("norm1"), groups: groups, channels: cout, eps: 1e-5)
            conv2 = Conv2d(w("conv2"), in: cout, out: cout, kernel: 3, padding: 1)
            norm2 = GroupNorm(w("norm2"), groups: groups, channels: cout, eps: 1e-5)
        }
        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = norm1(conv1(x), silu: true)
            return h + norm2(conv2(h), silu: true)
        }
    }

    public let config: SceneCheckerConfig
    public var convIn: Conv2d
    public var blocks: [Block]
    public var features: Linear
    public var head: Linear

    public init(_ w: WeightScope, config: SceneCheckerConfig) {
        self.config = config
        let c = config.blockOutChannels
        convIn = Conv2d(w("conv_in"), in: 3, out: c[0], kernel: 3, padding: 1)
        blocks = (0..<(c.count - 1)).map { Block(w("blocks")($0), in: c[$0], out: c[$0 + 1], groups: config.normNumGroups) }
        let side = config.imageSize >> (c.count - 1)
        features = Linear(w("features"), in: c.last! * side * side, out: config.hiddenSize)
        head = Linear(w("head"), in: config.hiddenSize, out: config.heads.reduce(0) { $0 + $1.classes })
    }

    /// Loads `config.json` + `model.safetensors` from a folder.
    public init(folder: String) throws {
        let config = try SceneCheckerConfig(JSONConfig(path: folder + "/config.json"))
        let path = folder + "/model.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw ModelLayoutError.noWeights(component: "checker", path: folder) }
        let store = WeightStore(component: "checker", files: [try SafetensorsFile(path: path)])
        self.init(store.root, config: config)
        try store.finish()
    }

    /// `x`: `[N, 3, S, S]` in [-1, 1] → hidden features `[N, hidden]`.
    public func embed(_ x: Tensor) -> Tensor {
        var h = convIn(x).silu()
        for b in blocks { h = b(h) }
        let n = h.shape[0]
        return features(h.reshaped([n, h.count / n])).silu()
    }

    /// Logits `[N, Σ classes]` from hidden features.
    public func logits(fromFeatures f: Tensor) -> Tensor { head(f) }

    public func callAsFunction(_ x: Tensor) -> Tensor { logits(fromFeatures: embed(x)) }

    /// Reads one row of logits into labels and the left-to-right object list.
    public func read(_ logits: Tensor, row: Int) -> CheckerReading {
        let width = logits.shape[1]
        var labels: [String: String] = [:]
        var offset = 0
        let p = logits.data
        for (name, k) in config.heads {
            var best = 0
            for j in 1..<k where p[row * width + offset + j] > p[row * width + offset + best] { best = j }
            let family = name.hasSuffix("_shape") ? "shape" : name.hasSuffix("_color") ? "color" : name
            labels[name] = config.labels[family]![best]
            offset += k
        }
        var objects: [(String, String)] = []
        for i in 0..<config.slots {
            let s = labels["slot\(i)_shape"] ?? "none", c = labels["slot\(i)_color"] ?? "none"
            if s != "none" && c != "none" { objects.append((s, c)) }
        }
        return CheckerReading(labels: labels, objects: objects)
    }

    /// Reads a picture (sRGB bytes): what it shows, and the hidden features.
    public func read(pixels: [UInt8], width: Int, height: Int) -> (CheckerReading, [Float]) {
        let features = embed(input(pixels: pixels, width: width, height: height))
        return (read(logits(fromFeatures: features), row: 0), features.data)
    }

    /// Turns sRGB bytes (`width × height × 3`) into the checker's input: bilinear resize to
    /// `imageSize` (as `torch.nn.functional.interpolate(..., antialias=False, align_corners=False)`)
    /// and scaling to [-1, 1].
    public func input(pixels: [UInt8], width: Int, height: Int) -> Tensor {
        let s = config.imageSize
        var out = [Float](repeating: 0, count: 3 * s * s)
        for y in 0..<s {
            let fy = max(0, (Float(y) + 0.5) * Float(height) / Float(s) - 0.5)
            let y0 = min(Int(fy), height - 1), y1 = min(y0 + 1, height - 1), wy = fy - Float(y0)
            for x in 0..<s {
                let fx = max(0, (Float(x) + 0.5) * Float(width) / Float(s) - 0.5)
                let x0 = min(Int(fx), width - 1), x1 = min(x0 + 1, width - 1), wx = fx - Float(x0)
                for c in 0..<3 {
                    func px(_ yy: Int, _ xx: Int) -> Float { Float(pixels[(yy * width + xx) * 3 + c]) }
                    let v = (px(y0, x0) * (1 - wx) + px(y0, x1) * wx) * (1 - wy) + (px(y1, x0) * (1 - wx) + px(y1, x1) * wx) * wy
                    out[c * s * s + y * s + x] = v / 127.5 - 1
                }
            }
        }
        return Tensor(shape: [1, 3, s, s], data: out)
    }
}

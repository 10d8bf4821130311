import Foundation
import LumenTensor

/// How a stored tensor becomes the tensor a module asks for.
public enum WeightTransform: Sendable, Equatable {
    case identity
    /// Same elements, other shape (e.g. an LDM 1×1 conv `[C, C, 1, 1]` used as a linear `[C, C]`).
    case reshape
    /// Part `index` of `parts` equal chunks along dimension 0 (OpenCLIP's fused `in_proj`).
    case chunk(index: Int, parts: Int)
}

/// One tensor a `WeightStore` can hand out.
public struct WeightEntry: Sendable {
    public var file: SafetensorsFile
    public var info: SafetensorsTensorInfo
    public var transform: WeightTransform
    public init(file: SafetensorsFile, info: SafetensorsTensorInfo, transform: WeightTransform = .identity) {
        self.file = file; self.info = info; self.transform = transform
    }
    /// The shape this entry produces after its transform (nil for `.reshape`: any compatible shape).
    var producedShape: [Int]? {
        switch transform {
        case .identity: info.shape
        case .reshape: nil
        case let .chunk(_, parts): [info.shape[0] / parts] + info.shape.dropFirst()
        }
    }
}

/// Problems found while matching a model's parameters with a checkpoint.
public struct WeightLoadError: Error, CustomStringConvertible {
    public var component: String
    public var missing: [String]
    public var unexpected: [String]
    public var misShaped: [(name: String, expected: [Int], found: [Int])]
    public var unreadable: [String]

    public init(component: String, missing: [String], unexpected: [String],
                misShaped: [(name: String, expected: [Int], found: [Int])], unreadable: [String]) {
        self.component = component; self.missing = missing; self.unexpected = unexpected
        self.misShaped = misShaped; self.unreadable = unreadable
    }

    public var description: String {
        var lines = ["\(component): checkpoint does not match the model"]
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            let shown = items.prefix(20).joined(separator: ", ")
            lines.append("  \(title) (\(items.count)): \(shown)\(items.count > 20 ? ", …" : "")")
        }
        list("missing tensors", missing)
        list("unexpected tensors", unexpected)
        list("mis-shaped tensors", misShaped.map { "\($0.name) expected \($0.expected) found \($0.found)" })
        list("unreadable tensors", unreadable)
        return lines.joined(separator: "\n")
    }
}

/// Hands out named weights to model constructors and reports every mismatch by name.
///
/// Modules ask for tensors by their diffusers path (`down_blocks.0.resnets.0.conv1.weight`) and
/// expected shape, like candle's `VarBuilder`. Instead of failing at the first problem, the store
/// records missing and mis-shaped names and returns zeros, so `finish()` can report all missing,
/// unexpected (never asked for) and mis-shaped tensors at once. Nothing is silently ignored.
public final class WeightStore {
    public let component: String
    private let entries: [String: WeightEntry]
    private var used = Set<String>()
    private var missing: [String] = []
    private var misShaped: [(String, [Int], [Int])] = []
    private var unreadable: [String] = []
    /// Names that exist in checkpoints but carry no parameters the model needs (e.g. CLIP's
    /// `position_ids` buffer); they are consumed silently because they are not weights.
    public var ignorable: Set<String> = []

    public init(component: String, entries: [String: WeightEntry]) {
        self.component = component
        self.entries = entries
    }

    /// A store over every tensor of the given files (shards of one component).
    public convenience init(component: String, files: [SafetensorsFile]) {
        var entries: [String: WeightEntry] = [:]
        for file in files {
            for (name, info) in file.tensors { entries[name] = WeightEntry(file: file, info: info) }
        }
        self.init(component: component, entries: entries)
    }

    public var names: [String] { entries.keys.sorted() }
    public func contains(_ name: String) -> Bool { entries[name] != nil }
    public func shape(of name: String) -> [Int]? { entries[name]?.info.shape }

    /// The tensor `name` with exactly `shape`; records a problem and returns zeros otherwise.
    public func tensor(_ name: String, shape: [Int]) -> Tensor {
        guard let entry = entries[name] else {
            missing.append(name)
            return Tensor(zeros: shape)
        }
        used.insert(name)
        let expectedCount = shape.reduce(1, *)
        if let produced = entry.producedShape {
            guard produced == shape else {
                misShaped.append((name, shape, produced))
                return Tensor(zeros: shape)
            }
        } else if entry.info.elementCount != expectedCount {
            misShaped.append((name, shape, entry.info.shape))
            return Tensor(zeros: shape)
        }
        do {
            let full = try entry.file.floatTensor(entry.info)
            switch entry.transform {
            case .identity, .reshape:
                return Tensor(shape: shape, data: full.data)
            case let .chunk(index, parts):
                let per = full.count / parts
                return Tensor(shape: shape, data: Array(full.data[(index * per)..<((index + 1) * per)]))
            }
        } catch {
            unreadable.append("\(name): \(error)")
            return Tensor(zeros: shape)
        }
    }

    /// Whether GEMM weights stay in their stored 16-bit precision (`weight(_:shape:)`); on unless
    /// `LUMEN_WEIGHTS=fp32`, which widens everything at load (twice the memory, no widening per use).
    public static let keepsStoredPrecision: Bool = ProcessInfo.processInfo.environment["LUMEN_WEIGHTS"] != "fp32"

    /// A GEMM layer's weight `name` with exactly `shape`, kept at its stored precision (see
    /// `WeightTensor`); problems are recorded as in `tensor(_:shape:)`.
    public func weight(_ name: String, shape: [Int]) -> WeightTensor {
        // Anything else (fp32 or fp64 storage, a chunk of a fused tensor, a missing or mis-shaped
        // name) takes the fp32 path, which also records the problems.
        guard Self.keepsStoredPrecision, let entry = entries[name],
              entry.info.dtype == .f16 || entry.info.dtype == .bf16,
              entry.transform == .reshape ? entry.info.elementCount == shape.reduce(1, *)
                                          : entry.transform == .identity && entry.info.shape == shape
        else { return WeightTensor(tensor(name, shape: shape)) }
        used.insert(name)
        do {
            return try entry.file.weightTensor(entry.info).reshaped(shape)
        } catch {
            unreadable.append("\(name): \(error)")
            return WeightTensor(Tensor(zeros: shape))
        }
    }

    /// A lookup table `name` with exactly `shape`, read in place from its file (see
    /// `SafetensorsFile.mappedWeight`): only the rows looked up become resident. Anything that
    /// cannot be read in place (a converted checkpoint's fused or reshaped tensor, another
    /// element type) is loaded as `weight(_:shape:)` loads it.
    public func mappedWeight(_ name: String, shape: [Int]) -> WeightTensor {
        guard let entry = entries[name], entry.transform == .identity, entry.info.shape == shape,
              let mapped = entry.file.mappedWeight(entry.info) else { return weight(name, shape: shape) }
        used.insert(name)
        return mapped
    }

    /// Throws a `WeightLoadError` listing every missing, unexpected and mis-shaped tensor.
    public func finish() throws {
        let unexpected = entries.keys.filter { !used.contains($0) && !ignorable.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty || !misShaped.isEmpty || !unreadable.isEmpty {
            throw WeightLoadError(component: component, missing: missing, unexpected: unexpected,
                                  misShaped: misShaped.map { (name: $0.0, expected: $0.1, found: $0.2) },
                                  unreadable: unreadable)
        }
    }

    public func scope(_ prefix: String) -> WeightScope { WeightScope(store: self, prefix: prefix) }
    public var root: WeightScope { WeightScope(store: self, prefix: "") }
}

/// A path prefix into a `WeightStore`, like candle's `vs.pp("down_blocks")`.
public struct WeightScope {
    public let store: WeightStore
    public let prefix: String

    public func callAsFunction(_ component: String) -> WeightScope {
        WeightScope(store: store, prefix: path(component))
    }
    public func callAsFunction(_ index: Int) -> WeightScope { self(String(index)) }

    public func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
    public func tensor(_ name: String, _ shape: [Int]) -> Tensor { store.tensor(path(name), shape: shape) }
    public func weight(_ name: String, _ shape: [Int]) -> WeightTensor { store.weight(path(name), shape: shape) }
    /// A lookup table read in place from its file (`WeightStore.mappedWeight`).
    public func mappedWeight(_ name: String, _ shape: [Int]) -> WeightTensor { store.mappedWeight(path(name), shape: shape) }
    public func contains(_ name: String) -> Bool { store.contains(path(name)) }
}

import Foundation

/// A problem with a model folder's layout.
public enum ModelLayoutError: Error, CustomStringConvertible {
    case notFound(String)
    case notAModel(path: String, reason: String)
    case missingComponent(component: String, path: String)
    case noWeights(component: String, path: String)
    case badIndex(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notFound(p): "\(p): no such file or folder"
        case let .notAModel(p, r): "\(p): not a loadable model: \(r)"
        case let .missingComponent(c, p): "\(p): the pipeline has no '\(c)' component folder"
        case let .noWeights(c, p): "\(p): component '\(c)' has no .safetensors weights (PyTorch .bin files are not loaded, for safety; convert them to safetensors)"
        case let .badIndex(p, r): "\(p): invalid sharded-weights index: \(r)"
        }
    }
}

/// The diffusers folder layout: `model_index.json` naming components, each in its own folder
/// with a `config.json` and weights as `*.safetensors`, optionally as a `*.fp16.safetensors`
/// variant or sharded with a `*.safetensors.index.json`.
public struct DiffusersLayout: Sendable {
    public let root: String
    /// `model_index.json`: component name → `[library, class]`.
    public let components: [String: [String]]
    public let pipelineClass: String?

    public init(root: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else { throw ModelLayoutError.notFound(root) }
        guard isDir.boolValue else { throw ModelLayoutError.notAModel(path: root, reason: "expected a diffusers folder") }
        let indexPath = root + "/model_index.json"
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw ModelLayoutError.notAModel(path: root, reason: "no model_index.json (is this a diffusers pipeline folder?)")
        }
        guard let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelLayoutError.notAModel(path: root, reason: "model_index.json is not a JSON object")
        }
        self.root = root
        pipelineClass = dict["_class_name"] as? String
        var comps: [String: [String]] = [:]
        for (k, v) in dict where !k.hasPrefix("_") {
            if let pair = v as? [Any], pair.count == 2, let lib = pair[0] as? String, let cls = pair[1] as? String {
                comps[k] = [lib, cls]
            }
        }
        components = comps
    }

    public func folder(_ component: String) -> String { root + "/" + component }

    public func hasComponent(_ component: String) -> Bool {
        components[component] != nil && FileManager.default.fileExists(atPath: folder(component))
    }

    public func configPath(_ component: String) throws -> String {
        guard hasComponent(component) else { throw ModelLayoutError.missingComponent(component: component, path: root) }
        let candidates = ["config.json", "scheduler_config.json"].map { folder(component) + "/" + $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// The weight files of a component: a single file or all shards, preferring `variant`
    /// (e.g. "fp16") when asked, else the plain file, else any variant present.
    public func weightFiles(_ component: String, variant: String? = nil) throws -> [String] {
        Self.weightFiles(in: folder(component), component: component, variant: variant)
    }

    public static func weightFiles(in dir: String, component: String, variant: String? = nil) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
        let singles = names.filter { $0.hasSuffix(".safetensors") && !$0.contains("-of-") }
        func variantOf(_ name: String) -> String? {
            // model.fp16.safetensors / diffusion_pytorch_model.safetensors.index.fp16.json handled below
            let parts = name.components(separatedBy: ".")
            return parts.count >= 3 ? parts[parts.count - 2] : nil
        }
        func pick(_ list: [String], variantFor: (String) -> String?) -> String? {
            if let variant, let v = list.first(where: { variantFor($0) == variant }) { return v }
            if let plain = list.first(where: { variantFor($0) == nil }) { return plain }
            return list.first
        }
        if let single = pick(singles, variantFor: variantOf) { return [dir + "/" + single] }
        if let index = pick(indexes, variantFor: { n in
            let stem = n.replacingOccurrences(of: ".safetensors.index.json", with: "")
            let parts = stem.components(separatedBy: ".")
            return parts.count >= 2 ? parts.last : nil
        }) {
            return [dir + "/" + index]
        }
        return []
    }

    /// Opens a component's weights (following a sharded index to its shards).
    public func openWeights(_ component: String, variant: String? = nil) throws -> [SafetensorsFile] {
        guard hasComponent(component) else { throw ModelLayoutError.missingComponent(component: component, path: root) }
        let files = try weightFiles(component, variant: variant)
        guard let first = files.first else { throw ModelLayoutError.noWeights(component: component, path: folder(component)) }
        if first.hasSuffix(".index.json") { return try Self.openShards(index: first) }
        return try files.map { try SafetensorsFile(path: $0) }
    }

    /// Opens every shard named in a `*.safetensors.index.json` `weight_map`.
    public static func openShards(index path: String) throws -> [SafetensorsFile] {
        guard let data = FileManager.default.contents(atPath: path),
              let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = dict["weight_map"] as? [String: String] else {
            throw ModelLayoutError.badIndex(path: path, reason: "expected an object with a weight_map of tensor → file")
        }
        let dir = (path as NSString).deletingLastPathComponent
        var files: [SafetensorsFile] = []
        for shard in Set(map.values).sorted() {
            guard !shard.contains("/") && !shard.hasPrefix(".") else {
                throw ModelLayoutError.badIndex(path: path, reason: "shard name '\(shard)' must be a plain file name")
            }
            let file = try SafetensorsFile(path: dir + "/" + shard)
            for (tensor, owner) in map where owner == shard && file.tensors[tensor] == nil {
                throw ModelLayoutError.badIndex(path: path, reason: "tensor '\(tensor)' is not in shard \(shard)")
            }
            files.append(file)
        }
        return files
    }
}

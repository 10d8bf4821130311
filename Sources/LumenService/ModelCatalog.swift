import Foundation
import LumenPipelines
import LumenWeights

/// What the server and the CLI know about one model, loaded or not.
public struct ModelInfo: Sendable, Codable, Equatable {
    public var id: String
    public var path: String
    public var builtIn: Bool
    public var available: Bool
    /// Why the model cannot be used (load error), when `available` is false.
    public var reason: String?
    /// The model's native size (its UNet's sample size × the VAE factor).
    public var defaultWidth: Int
    public var defaultHeight: Int
    /// Sizes offered, "WIDTHxHEIGHT", native first.
    public var sizes: [String]
    public var defaultSteps: Int
    public var defaultGuidance: Float
    /// The A1111 name of the model's own sampler.
    public var samplerName: String

    enum CodingKeys: String, CodingKey {
        case id, path, builtIn = "built_in", available, reason, defaultWidth = "default_width", defaultHeight = "default_height"
        case sizes, defaultSteps = "default_steps", defaultGuidance = "default_guidance", samplerName = "sampler"
    }
}

/// Errors from the catalog, with messages a user can act on.
public enum ModelCatalogError: Error, CustomStringConvertible, Equatable {
    case unknownModel(String, known: [String])
    case unavailable(String, reason: String)

    public var description: String {
        switch self {
        case let .unknownModel(id, known): "the model '\(id)' does not exist; available: \(known.joined(separator: ", "))"
        case let .unavailable(id, reason): "the model '\(id)' is unavailable: \(reason)"
        }
    }
}

/// The models a server offers: the built-in model plus every diffusers folder and single-file
/// `.safetensors` checkpoint in a models folder. Every model is loaded once at start so that a
/// broken one is reported as unavailable with its reason (the server still starts); at most
/// `maxLoaded` pipelines stay in memory (least recently used evicted, reloaded on demand).
public final class ModelCatalog: @unchecked Sendable {
    public private(set) var defaultModelID = "lumen-tiny"
    private let lock = NSLock()
    private var infos: [String: ModelInfo] = [:]
    private var order: [String] = []
    private var loaded: [String: StableDiffusionPipeline] = [:]
    private var lastUse: [String: UInt64] = [:]
    private var clock: UInt64 = 0
    private let maxLoaded: Int
    private let tokenizerPath: String?

    /// - Parameters:
    ///   - builtIn: the built-in model's folder (its id is the folder name).
    ///   - modelsFolder: a folder to scan (each entry a model), or nil.
    ///   - tokenizerPath: CLIP's vocabulary for single-file checkpoints.
    public init(builtIn: String?, modelsFolder: String?, tokenizerPath: String?, maxLoaded: Int = 2) {
        self.maxLoaded = max(1, maxLoaded)
        self.tokenizerPath = tokenizerPath
        var sources: [(String, String, Bool)] = []
        if let builtIn { sources.append((Self.modelID(for: builtIn), builtIn, true)) }
        if let modelsFolder { sources += Self.discover(in: modelsFolder).map { ($0.0, $0.1, false) } }
        var seen = Set<String>()
        for (id, path, isBuiltIn) in sources where seen.insert(id).inserted {
            order.append(id)
            infos[id] = load(id: id, path: path, builtIn: isBuiltIn)
        }
        defaultModelID = order.first { infos[$0]?.available == true } ?? order.first ?? "lumen-tiny"
    }

    /// A model's id: its folder name, or its file name without `.safetensors`.
    public static func modelID(for path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return name.hasSuffix(".safetensors") ? String(name.dropLast(".safetensors".count)) : name
    }

    /// Entries of `folder` that look like models: folders with `model_index.json`, and `.safetensors` files.
    static func discover(in folder: String) -> [(String, String)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.sorted().compactMap { name in
            guard !name.hasPrefix(".") else { return nil }
            let path = folder + "/" + name
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return nil }
            if isDir.boolValue {
                // A folder without model_index.json is still listed, as unavailable with the reason.
                return (modelID(for: path), path)
            }
            return name.hasSuffix(".safetensors") ? (modelID(for: path), path) : nil
        }
    }

    private func load(id: String, path: String, builtIn: Bool) -> ModelInfo {
        let defaults = ModelDefaults(modelPath: path)
        var info = ModelInfo(id: id, path: path, builtIn: builtIn, available: false, reason: nil, defaultWidth: 0, defaultHeight: 0,
                             sizes: [], defaultSteps: defaults.steps ?? 20, defaultGuidance: defaults.guidance ?? 7.5, samplerName: "")
        do {
            let pipeline = try PipelineLoader.load(path: path, tokenizer: tokenizerPath)
            info.available = true
            info.sizes = defaults.sizes ?? Self.sizes(native: pipeline.defaultSize, multiple: max(8, pipeline.vaeScaleFactor * 8))
            // The first listed size is the model's own ("auto").
            let first = info.sizes.first?.split(separator: "x").compactMap { Int($0) } ?? []
            info.defaultWidth = first.count == 2 ? first[0] : pipeline.defaultSize
            info.defaultHeight = first.count == 2 ? first[1] : pipeline.defaultSize
            info.samplerName = pipeline.defaultScheduler.a1111Name
            remember(id, pipeline)
        } catch {
            info.reason = "\(error)"
        }
        return info
    }

    /// The native square plus 4:3, 3:2 and 16:9 in both orientations, at about the same pixel count,
    /// rounded to `multiple`.
    public static func sizes(native: Int, multiple: Int) -> [String] {
        var out = ["\(native)x\(native)"]
        for (a, b) in [(4.0, 3.0), (3.0, 2.0), (16.0, 9.0)] {
            let r = (a / b).squareRoot()
            let w = max(multiple, Int((Double(native) * r / Double(multiple)).rounded()) * multiple)
            let h = max(multiple, Int((Double(native) / r / Double(multiple)).rounded()) * multiple)
            for s in ["\(w)x\(h)", "\(h)x\(w)"] where !out.contains(s) { out.append(s) }
        }
        return out
    }

    private func remember(_ id: String, _ pipeline: StableDiffusionPipeline) {
        clock += 1
        loaded[id] = pipeline
        lastUse[id] = clock
        while loaded.count > maxLoaded, let victim = loaded.keys.min(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] }) {
            loaded[victim] = nil
        }
    }

    /// Every model, in catalog order (the built-in model first).
    public var models: [ModelInfo] { lock.withLock { order.compactMap { infos[$0] } } }

    public func info(_ id: String) -> ModelInfo? { lock.withLock { infos[id] } }

    /// Resolves a model id (nil → the default) to its info, or a typed error.
    public func resolve(_ id: String?) throws -> ModelInfo {
        let id = id ?? defaultModelID
        guard let info = info(id) else { throw ModelCatalogError.unknownModel(id, known: lock.withLock { order }) }
        guard info.available else { throw ModelCatalogError.unavailable(id, reason: info.reason ?? "failed to load") }
        return info
    }

    /// The loaded pipeline for a model (loading it again if it was evicted). Blocking: call off
    /// the async executor.
    public func pipeline(_ id: String) throws -> StableDiffusionPipeline {
        let info = try resolve(id)
        lock.lock()
        if let p = loaded[id] {
            clock += 1
            lastUse[id] = clock
            lock.unlock()
            return p
        }
        lock.unlock()
        let p = try PipelineLoader.load(path: info.path, tokenizer: tokenizerPath)
        lock.withLock { remember(id, p) }
        return p
    }
}

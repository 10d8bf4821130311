import ArgumentParser
import Foundation
import LumenPipelines
import LumenWeights

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tell what a checkpoint is, or exactly why it cannot be loaded.")

    @Argument(help: "A diffusers folder or a .safetensors file.") var path: String
    @Option(name: .long, help: "Tokenizer folder for single-file checkpoints.") var tokenizer: String?

    func run() throws {
        try reportingErrors {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ModelLayoutError.notFound(path) }
            var lines: [String] = []
            if isDir.boolValue {
                let layout = try DiffusersLayout(root: path)
                lines.append("\(path): diffusers pipeline \(layout.pipelineClass ?? "(unnamed)")")
                for name in layout.components.keys.sorted() {
                    let cls = layout.components[name]!.joined(separator: ".")
                    let files = (try? layout.openWeights(name)) ?? []
                    lines.append("  \(name): \(cls)" + (files.isEmpty ? "" : "  " + Self.summary(files.flatMap { $0.tensors.values })))
                }
            } else {
                let file = try SafetensorsFile(path: path)
                if let checkpoint = try? SingleFileCheckpoint(path: path) {
                    lines.append("\(path): single-file \(checkpoint.family.rawValue) checkpoint")
                    for (label, entries) in [("unet", checkpoint.unetEntries), ("vae", checkpoint.vaeEntries), ("text_encoder", checkpoint.textEntries)] {
                        lines.append("  \(label): \(Self.summary(entries.values.map(\.info)))")
                    }
                    if !checkpoint.unknownKeys.isEmpty {
                        lines.append("  unknown tensors (\(checkpoint.unknownKeys.count)): \(checkpoint.unknownKeys.prefix(10).joined(separator: ", "))")
                    }
                } else {
                    lines.append("\(path): safetensors file, \(Self.summary(Array(file.tensors.values)))")
                }
            }
            print(lines.joined(separator: "\n"))
            // Build every module to prove the checkpoint loads (or say exactly why not).
            do {
                let pipeline = try PipelineLoader.load(path: path, tokenizer: tokenizer ?? defaultTokenizerPath())
                print("loadable: yes (default size \(pipeline.defaultSize)×\(pipeline.defaultSize), sampler \(pipeline.defaultScheduler.rawValue))")
            } catch {
                print("loadable: no")
                throw error
            }
        }
    }

    static func summary(_ infos: [SafetensorsTensorInfo]) -> String {
        let params = infos.reduce(0) { $0 + $1.elementCount }
        var dtypes: [String: Int] = [:]
        for i in infos { dtypes[i.dtype.rawValue, default: 0] += 1 }
        let types = dtypes.keys.sorted().map { "\($0)×\(dtypes[$0]!)" }.joined(separator: ", ")
        return "\(infos.count) tensors, \(formatCount(params)) parameters, dtypes \(types)"
    }
}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.1fM", Double(n) / 1e6) }
    if n >= 1_000 { return String(format: "%.1fK", Double(n) / 1e3) }
    return "\(n)"
}

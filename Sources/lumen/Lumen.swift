import ArgumentParser
import Foundation
import Logging
import LumenService
import LumenTensor

@main
struct Lumen: AsyncParsableCommand {
    static let version = LumenVersion.string
    static let configuration = CommandConfiguration(
        commandName: "lumen",
        abstract: "Lumen: fast, self-hostable text-to-image.",
        version: version,
        subcommands: [Generate.self, Serve.self, Inspect.self, Bench.self, Eval.self, Verify.self, Keys.self, Scenes.self, Arena.self])

    /// Sets up the allocator before any other thread allocates (`AllocatorPolicy`: the arena
    /// limit only takes if set before glibc makes its first secondary arena), then parses and
    /// runs the command as `AsyncParsableCommand.main()` does.
    static func main() async {
        _ = AllocatorPolicy.applied
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Writes a line to standard error (stdout may carry image bytes).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs `body`, turning any thrown error into a clear message on stderr and exit status 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
    }
}

func bootstrapLogging(verbose: Bool) {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = verbose ? .debug : .warning
        return h
    }
}

/// Finds a file or folder shipped in the repository: under the current folder, or above the
/// executable (so `.build/release/lumen` finds the repository's copy).
func shippedResource(_ relative: String, marker: String) -> String? {
    var candidates = [FileManager.default.currentDirectoryPath + "/" + relative]
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 {
        candidates.append(dir.path + "/" + relative)
        dir.deleteLastPathComponent()
    }
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/" + marker) }
}

/// The built-in model: `$LUMEN_MODEL`, else the repository's `models/lumen-tiny` (our own).
func defaultModelPath() -> String? {
    if let env = ProcessInfo.processInfo.environment["LUMEN_MODEL"], !env.isEmpty { return env }
    return shippedResource("models/lumen-tiny", marker: "model_index.json")
}

/// The data folder (server database, pictures, signing keys): `$LUMEN_DATA`, else `lumen-data`.
func defaultDataDirectory() -> String {
    if let env = ProcessInfo.processInfo.environment["LUMEN_DATA"], !env.isEmpty { return env }
    return "lumen-data"
}

/// CLIP's vocabulary for single-file checkpoints, which carry no tokenizer.
func defaultTokenizerPath() -> String? {
    shippedResource("models/clip-tokenizer", marker: "vocab.json")
}

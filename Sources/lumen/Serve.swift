import ArgumentParser
import Foundation
import LumenArena
import Logging
import LumenServer
import LumenService

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the OpenAI-compatible Images API and the Image Creator web app.")

    @Option(name: .long, help: "Address to listen on.") var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on.") var port = 8080
    @Option(name: .long, help: "Folder for the job database, the pictures and the signing keys (default: $LUMEN_DATA or lumen-data).")
    var data: String = defaultDataDirectory()
    @Option(name: .long, help: "PEM private key (P-256) for Content Credentials, instead of the data folder's test CA.") var signingKey: String?
    @Option(name: .long, help: "PEM certificate chain (leaf first) for --signing-key.") var signingChain: String?
    @Option(name: .long, help: "An RFC 3161 time-stamp authority URL for the Content Credentials (also $LUMEN_TSA_URL).") var tsaURL: String?
    @Option(name: .long, help: "Folder of extra models (diffusers folders and .safetensors checkpoints).") var models: String?
    @Option(name: .long, help: "The built-in model (default: models/lumen-tiny).") var builtInModel: String?
    @Option(name: .long, help: "Jobs allowed to wait in the queue before 429.") var queueDepth = 64
    @Option(name: .long, help: "Jobs run at once (the engine itself generates one picture batch at a time per process; marking, encoding, signing and storing overlap).") var concurrency = 1
    @Option(name: .long, help: "An API key clients must send as 'Authorization: Bearer KEY' (repeatable; also $LUMEN_API_KEY).")
    var apiKey: [String] = []
    @Option(name: .long, help: "A JSON file of API keys: [{\"key\": …, \"name\": …, \"region\": …}] (the region feeds the region policy).")
    var apiKeys: String?
    @Option(name: .long, help: "A battle log from `lumen arena auto`, shown as the separate automatic board.") var autoBattles: String?
    @Option(name: .long, help: "A JSON region policy: which model is offered or withheld where (see docs).") var regionPolicy: String?
    @Option(name: .long, help: "A header your reverse proxy sets to the client's region, e.g. X-Region.") var regionHeader: String?
    @Flag(name: .long, help: "Draw the visible \"AI-generated\" badge on every picture unless a request sets visible_mark false.")
    var visibleMark = false
    @Option(name: .long, help: "A PEM root to trust in POST /v1/verify (repeatable; the server's own test root is always trusted).")
    var trust: [String] = []
    @Flag(name: .long, help: "Verbose logging.") var verbose = false

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard (1...100_000).contains(queueDepth) else { throw ValidationError("--queue-depth must be between 1 and 100000") }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 64") }
        if let models {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: models, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--models \(models) is not a folder")
            }
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = verbose ? .debug : .info
            return h
        }
        var config = ServerConfiguration(dataDirectory: data)
        config.host = host
        config.port = port
        config.modelsDirectory = models
        config.builtInModel = builtInModel ?? defaultModelPath()
        config.tokenizerPath = defaultTokenizerPath()
        config.signingKeyPath = signingKey
        config.signingChainPath = signingChain
        config.timeStampURL = tsaURL
        config.maxQueuedJobs = queueDepth
        config.concurrency = concurrency
        var keys = apiKey
        if let env = ProcessInfo.processInfo.environment["LUMEN_API_KEY"], !env.isEmpty { keys.append(env) }
        config.apiKeys = keys.enumerated().map { APIKey(key: $1, name: "key-\($0 + 1)") }
        do {
            if let apiKeys {
                guard let data = FileManager.default.contents(atPath: apiKeys) else { throw ValidationError("cannot read --api-keys \(apiKeys)") }
                do { config.apiKeys += try JSONDecoder().decode([APIKey].self, from: data) } catch {
                    throw ValidationError("--api-keys \(apiKeys) is not a JSON list of {key, name, region}: \(error)")
                }
            }
            if let regionPolicy { config.regionPolicy = try RegionPolicy(path: regionPolicy) }
            if let autoBattles {
                _ = try BattleLog.load(path: autoBattles)
                config.automaticBattlesPath = autoBattles
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        config.regionHeader = regionHeader
        config.visibleMarkByDefault = visibleMark
        config.trustAnchorFiles = trust
        printError("Lumen \(Lumen.version) starting on http://\(host):\(port) (data in \(data))")
        do {
            try await LumenServerApp.run(config)
        } catch {
            printError("error: the server stopped: \(error)")
            throw ExitCode.failure
        }
    }

}

import Foundation

/// How `lumen serve` runs.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Database and pictures live here.
    public var dataDirectory: String
    /// The built-in model's folder.
    public var builtInModel: String?
    /// A folder of extra models (diffusers folders and single-file checkpoints).
    public var modelsDirectory: String?
    public var tokenizerPath: String?
    /// Jobs waiting beyond this are refused with 429 + `Retry-After`.
    public var maxQueuedJobs = 64
    /// Jobs running at once (the engine already uses every core for one job).
    public var concurrency = 1
    /// Pipelines kept in memory.
    public var maxLoadedModels = 2
    /// Empty: no authentication (a local install).
    public var apiKeys: [APIKey] = []

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    public var databasePath: String { dataDirectory + "/lumen.sqlite" }
    public var imagesDirectory: URL { URL(fileURLWithPath: dataDirectory).appendingPathComponent("images") }
}

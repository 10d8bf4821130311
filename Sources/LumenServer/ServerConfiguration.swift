import Foundation
import LumenService

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
    /// Content Credentials signing key and chain (PEM); nil: the data folder's keys (a test CA made on first start).
    public var signingKeyPath: String?
    public var signingChainPath: String?
    /// An RFC 3161 time-stamp authority for the signatures.
    public var timeStampURL: String?
    /// Which model is offered where (451 for a withheld one).
    public var regionPolicy = RegionPolicy.open
    /// A header the reverse proxy sets to the client's region (ISO 3166 alpha-2), e.g. "X-Region".
    public var regionHeader: String?
    /// Draw the visible "AI-generated" badge unless a request says otherwise.
    public var visibleMarkByDefault = false
    /// Extra trust anchors for `POST /v1/verify` (the server's own test root is always one).
    public var trustAnchorFiles: [String] = []
    /// A clean-battle log of automatic battles (`lumen arena auto`), shown as its own board and
    /// never mixed with human votes; re-read on each request so a new run shows up at once.
    public var automaticBattlesPath: String?
    /// Empty: no authentication (a local install).
    public var apiKeys: [APIKey] = []

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    public var databasePath: String { dataDirectory + "/lumen.sqlite" }
    public var imagesDirectory: URL { URL(fileURLWithPath: dataDirectory).appendingPathComponent("images") }
}

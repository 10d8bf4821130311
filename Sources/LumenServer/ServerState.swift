import Foundation
import Hummingbird
import HTTPTypes
import Logging
import LumenProvenance
import NIOCore
import X509
import LumenService

/// What every route shares: configuration, models, the queue and its events.
public struct ServerState: Sendable {
    public let configuration: ServerConfiguration
    public let catalog: ModelCatalog
    public let store: any JobStore
    public let events: JobEvents
    public let runner: JobRunner
    public let arena: any ArenaStore
    /// Trust anchors for `POST /v1/verify`.
    public let trustAnchors: [Certificate]
    public let logger: Logger
    public let startedAt = Date()

    /// Queues a job, turning a full queue into 429 with `Retry-After`.
    func submit(_ job: JobRecord) async throws -> Int {
        do {
            return try await runner.submit(job, maxQueued: configuration.maxQueuedJobs)
        } catch let StoreError.queueFull(depth) {
            throw APIError.rateLimited("The queue is full (\(depth) jobs waiting); retry later.", retryAfter: runner.retryAfterSeconds(queued: depth))
        }
    }

    /// Reads and checks a generation request body and turns it into a job for the queue: the
    /// model resolved (404/503), the size checked against it, quality mapped to steps.
    func job(from request: Request, context: LumenRequestContext) async throws -> (ImagesRequest, JobRecord) {
        let r = try ImagesRequest.parse(try await Self.body(request, context: context))
        let model = try catalog.resolve(r.model)
        if let why = configuration.regionPolicy.withholding(model: model.id, region: region(request, context: context)) {
            throw APIError(.unavailableForLegalReasons, why + ".", param: "model", code: "model_withheld_in_region")
        }
        let settings = try r.settings(for: model)
        _ = try settings.request()
        let job = JobRecord(user: user(requested: r.user, context: context), settings: settings,
                            outputFormat: r.outputFormat, compression: r.outputCompression ?? 90,
                            visibleMark: r.visibleMark ?? configuration.visibleMarkByDefault)
        return (r, job)
    }

    /// The request's region: the trusted header set by the reverse proxy, else the API key's profile.
    func region(_ request: Request, context: LumenRequestContext) -> String? {
        if let name = configuration.regionHeader, let field = HTTPField.Name(name), let value = request.headers[field], !value.isEmpty {
            return String(value.prefix(16))
        }
        return context.identity?.region
    }

    /// The fairness unit of a request: the API's `user`, else the API key's name, else "anonymous".
    func user(requested: String?, context: LumenRequestContext) -> String {
        if let requested, !requested.isEmpty { return requested }
        return context.identity?.name ?? "anonymous"
    }

    /// Reads the whole request body (413 beyond the context's limit).
    static func body(_ request: Request, context: LumenRequestContext, limit: Int? = nil) async throws -> Data {
        var request = request
        let limit = limit ?? context.maxUploadSize
        do {
            return Data(buffer: try await request.collectBody(upTo: limit))
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "The request body is larger than \(limit >> 20) MiB.", code: "request_too_large")
        }
    }

    /// A stored picture's bytes.
    func imageData(_ record: ImageRecord) throws -> Data {
        let url = configuration.imagesDirectory.appendingPathComponent(record.fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw APIError(.internalServerError, "the picture \(record.id) is missing from the data folder", type: "server_error")
        }
        return data
    }
}

import Foundation
import Hummingbird
import LumenService

/// Lumen's own job API, used by the Image Creator: submit without waiting, follow progress and
/// previews as server-sent events, cancel, and browse or search the history of pictures.
struct JobsController {
    typealias Context = LumenRequestContext
    let state: ServerState

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/lumen/jobs") { request, context in try await submit(request, context) }
        router.get("/v1/lumen/jobs/:id") { _, context in try jsonResponse(try await jobObject(try await requireJob(context))) }
        router.delete("/v1/lumen/jobs/:id") { _, context in
            let job = try await requireJob(context)
            _ = try await state.runner.cancel(job.id)
            return try jsonResponse(try await jobObject(try await requireJob(context)))
        }
        router.get("/v1/lumen/jobs/:id/events") { _, context in try await eventStream(try await requireJob(context)) }
        router.get("/v1/lumen/images") { request, _ in
            let q = request.uri.queryParameters
            let limit = q.get("limit").flatMap(Int.init) ?? 50
            let before = q.get("before").flatMap(Double.init)
            let query = q.get("q").map { String($0.prefix(200)) }
            let images = try await state.store.searchImages(query: query, limit: limit, before: before)
            return try jsonResponse(ImageList(data: images.map(ImageObject.init)))
        }
        router.get("/v1/lumen/images/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            // Arena pictures are not in the history, and their settings name the model: not found here.
            guard ImagesController.isImageID(id), let image = try await state.store.image(id),
                  try await state.store.job(image.jobID)?.hideModel == false else {
                throw APIError.notFound("No picture with id '\(id.prefix(80))'.", code: "image_not_found")
            }
            return try jsonResponse(ImageObject(image))
        }
    }

    struct ImageList: Encodable {
        var object = "list"
        var data: [ImageObject]
    }

    struct Accepted: Encodable {
        var id: String
        var object = "lumen.job"
        var status = "queued"
        var position: Int
        var settings: GenerationSettings
    }

    /// Same body as `/v1/images/generations`; answers 202 at once with the job id.
    func submit(_ request: Request, _ context: Context) async throws -> Response {
        let (_, job) = try await state.job(from: request, context: context)
        let settings = job.settings
        let position = try await state.submit(job)
        return try jsonResponse(Accepted(id: job.id, position: position, settings: settings), status: .accepted)
    }

    func requireJob(_ context: Context) async throws -> JobRecord {
        let id = context.parameters.get("id") ?? ""
        guard id.hasPrefix("job_"), id.count == 36, let job = try await state.store.job(id), !job.hideModel else {
            throw APIError.notFound("No job with id '\(id.prefix(80))'.", code: "job_not_found")
        }
        return job
    }

    func jobObject(_ job: JobRecord) async throws -> JobObject {
        let images = try await state.store.images(jobID: job.id)
        let progress = state.events.currentProgress(job.id)
        return JobObject(id: job.id, status: job.status.rawValue, position: try await state.store.position(of: job.id),
                         step: progress?.step, total_steps: progress?.total ?? job.settings.steps, created: Int(job.createdAt),
                         error: job.error, settings: job.settings, output_format: job.outputFormat.rawValue,
                         images: images.map(ImageObject.init))
    }

    struct ProgressEvent: Encodable { var stage: String; var step: Int; var total: Int }
    struct PreviewEvent: Encodable { var step: Int; var total: Int; var b64_json: String }
    struct QueuedEvent: Encodable { var position: Int }
    struct ErrorEvent: Encodable { var message: String }

    /// `queued` (position), `started`, `progress`, `preview`, then `completed` (the job with its
    /// pictures), `failed` or `cancelled`. A finished job answers with its final event at once.
    func eventStream(_ job: JobRecord) async throws -> Response {
        let events = state.events.subscribe(job.id)
        // Read the job again after subscribing, so that a job finishing in between is not missed.
        let current = try await state.store.job(job.id) ?? job
        let state = self.state
        let finalObject: JobObject? = current.status.isFinished ? try await jobObject(current) : nil
        let position = try await state.store.position(of: job.id)
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            if let finalObject {
                let name = finalObject.status == "succeeded" ? "completed" : finalObject.status
                try await writer.write(sseEvent(name, finalObject))
                try await writer.finish(nil)
                return
            }
            if let position { try await writer.write(sseEvent("queued", QueuedEvent(position: position))) }
            for await event in events {
                switch event {
                case .started:
                    try await writer.write(sseEvent("started", ["id": job.id]))
                case let .progress(stage, step, total):
                    try await writer.write(sseEvent("progress", ProgressEvent(stage: stage, step: step, total: total)))
                case let .preview(step, total, png):
                    try await writer.write(sseEvent("preview", PreviewEvent(step: step, total: total, b64_json: png.base64EncodedString())))
                case .succeeded, .failed, .cancelled:
                    let done = try await state.store.job(job.id) ?? job
                    let object = try await JobsController(state: state).jobObject(done)
                    let name = done.status == .succeeded ? "completed" : done.status.rawValue
                    try await writer.write(sseEvent(name, object))
                }
            }
            try await writer.finish(nil)
        })
    }
}

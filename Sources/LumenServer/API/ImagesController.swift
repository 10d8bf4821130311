import Foundation
import Hummingbird
import LumenService

/// OpenAI's Images API: `POST /v1/images/generations` (plain and streamed) and the picture files
/// behind `url` responses.
struct ImagesController {
    typealias Context = LumenRequestContext
    let state: ServerState

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/images/generations") { request, context in try await generate(request, context) }
        router.get("/v1/images/files/:name") { request, context in try await file(request, context) }
    }

    func generate(_ request: Request, _ context: Context) async throws -> Response {
        let (r, job) = try await state.job(from: request, context: context)
        let settings = job.settings
        let events = state.events.subscribe(job.id)
        _ = try await state.submit(job)
        let quality = Self.reportedQuality(r.quality)
        let size = "\(settings.width)x\(settings.height)"
        if r.stream {
            return streamed(r, job: job, events: events, quality: quality, size: size)
        }
        for await event in events {
            switch event {
            case let .succeeded(images):
                let created = Int(Date().timeIntervalSince1970)
                let items = try images.map { image in
                    r.responseFormat == "url"
                        ? ImagesResponse.Item(b64_json: nil, url: fileURL(image, request: request), revised_prompt: settings.revisedPrompt)
                        : ImagesResponse.Item(b64_json: try state.imageData(image).base64EncodedString(), url: nil, revised_prompt: settings.revisedPrompt)
                }
                return try jsonResponse(ImagesResponse(
                    created: created, data: items, size: size, quality: quality, output_format: r.outputFormat.rawValue,
                    usage: ImagesResponse.usage(prompt: settings.revisedPrompt, width: settings.width, height: settings.height, count: images.count)))
            case let .failed(message):
                throw APIError(.internalServerError, "The generation failed: \(message)", type: "server_error", code: "generation_failed").noRetry()
            case .cancelled:
                throw APIError(.conflict, "The generation \(job.id) was cancelled.", code: "cancelled").noRetry()
            default:
                continue
            }
        }
        throw APIError(.serviceUnavailable, "The server is shutting down; the job \(job.id) stays queued.", type: "server_error")
    }

    /// Server-sent events as OpenAI sends them: `image_generation.partial_image` (up to
    /// `partial_images`, spread over the denoising steps), then `image_generation.completed` per picture.
    func streamed(_ r: ImagesRequest, job: JobRecord, events: AsyncStream<JobEvent>, quality: String, size: String) -> Response {
        let state = self.state
        let settings = job.settings
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            var sent = 0
            for await event in events {
                let now = Int(Date().timeIntervalSince1970)
                switch event {
                case let .preview(step, total, png):
                    // Partial image i goes out once denoising has passed (i + 1)/(k + 1) of its steps.
                    guard sent < r.partialImages, step * (r.partialImages + 1) >= total * (sent + 1) else { continue }
                    try await writer.write(sseEvent("image_generation.partial_image", StreamEvent(
                        type: "image_generation.partial_image", b64_json: png.base64EncodedString(), created_at: now, size: size,
                        quality: quality, background: "opaque", output_format: "png", partial_image_index: sent, usage: nil)))
                    sent += 1
                case let .succeeded(images):
                    for image in images {
                        let b64 = try state.imageData(image).base64EncodedString()
                        try await writer.write(sseEvent("image_generation.completed", StreamEvent(
                            type: "image_generation.completed", b64_json: b64, created_at: now, size: size, quality: quality,
                            background: "opaque", output_format: r.outputFormat.rawValue, partial_image_index: nil,
                            usage: ImagesResponse.usage(prompt: settings.revisedPrompt, width: settings.width, height: settings.height, count: 1))))
                    }
                case let .failed(message):
                    let body: [String: [String: String]] = ["error": ["message": "The generation failed: \(message)", "type": "server_error"]]
                    try await writer.write(sseEvent("error", body))
                case .cancelled:
                    let body: [String: [String: String]] = ["error": ["message": "The generation was cancelled.", "type": "invalid_request_error"]]
                    try await writer.write(sseEvent("error", body))
                default:
                    continue
                }
            }
            try await writer.finish(nil)
        })
    }

    struct StreamEvent: Encodable {
        var type: String
        var b64_json: String
        var created_at: Int
        var size: String
        var quality: String
        var background: String
        var output_format: String
        var partial_image_index: Int?
        var usage: ImagesResponse.Usage?
    }

    static func reportedQuality(_ q: String) -> String {
        switch q {
        case "standard", "auto": "medium"
        case "hd": "high"
        default: q
        }
    }

    /// An absolute URL on this server (from the request's Host), stable for the picture's life.
    func fileURL(_ image: ImageRecord, request: Request) -> String {
        let host = request.head.authority ?? "\(state.configuration.host):\(state.configuration.port)"
        return "http://\(host)/v1/images/files/\(image.fileName)"
    }

    /// Serves a stored picture. The name must be exactly an image id and a known extension, so
    /// no path trick (`..`, `/`, encoded separators) reaches the file system.
    func file(_ request: Request, _ context: Context) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let format = ImageFormat(rawValue: String(parts[1])), Self.isImageID(String(parts[0])),
              let record = try await state.store.image(String(parts[0])), record.format == format else {
            throw APIError.notFound("No picture named '\(name.prefix(80))'.", code: "image_not_found")
        }
        let data = try state.imageData(record)
        return Response(status: .ok, headers: [
            .contentType: format.mimeType, .cacheControl: "public, max-age=31536000, immutable",
            .contentDisposition: "inline; filename=\"\(record.fileName)\"",
        ], body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    static func isImageID(_ s: String) -> Bool {
        s.count == 36 && s.hasPrefix("img_") && s.dropFirst(4).allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

import Foundation
import Hummingbird
import LumenService

/// OpenAI's `ImagesResponse`.
struct ImagesResponse: Encodable {
    struct Item: Encodable {
        var b64_json: String?
        var url: String?
        var revised_prompt: String
    }
    struct Usage: Encodable {
        struct Details: Encodable { var text_tokens: Int; var image_tokens: Int }
        var input_tokens: Int
        var input_tokens_details: Details
        var output_tokens: Int
        var total_tokens: Int
    }
    var created: Int
    var data: [Item]
    var background = "opaque"
    var size: String
    var quality: String
    var output_format: String
    var usage: Usage

    /// Token counts in OpenAI's terms: prompt words in, one token per 16×16 pixels out.
    static func usage(prompt: String, width: Int, height: Int, count: Int) -> Usage {
        let text = prompt.split { $0.isWhitespace || $0.isPunctuation }.count
        let out = count * max(1, (width * height + 255) / 256)
        return Usage(input_tokens: text, input_tokens_details: .init(text_tokens: text, image_tokens: 0), output_tokens: out,
                     total_tokens: text + out)
    }
}

/// A model in `GET /v1/models`: OpenAI's fields plus Lumen's (availability, reason, sizes, defaults).
struct ModelObject: Encodable {
    var id: String
    var object = "model"
    var created: Int
    var owned_by: String
    var available: Bool
    var reason: String?
    var withheld_in_region: Bool
    var built_in: Bool
    var is_default: Bool
    var sizes: [String]
    var default_size: String
    var default_steps: Int
    var default_guidance: Float
}

/// A job as the Lumen API shows it.
struct JobObject: Encodable {
    var id: String
    var object = "lumen.job"
    var status: String
    var position: Int?
    var step: Int?
    var total_steps: Int?
    var created: Int
    var error: String?
    var settings: GenerationSettings
    var output_format: String
    var images: [ImageObject]
}

/// A stored picture as the Lumen API shows it.
struct ImageObject: Encodable {
    var id: String
    var object = "lumen.image"
    var url: String
    var job_id: String
    var index: Int
    var created: Int
    var width: Int
    var height: Int
    var format: String
    var bytes: Int
    var model: String
    var settings: GenerationSettings
    var watermark_id: String?

    init(_ r: ImageRecord) {
        id = r.id; url = "/v1/images/files/\(r.fileName)"; job_id = r.jobID; index = r.index; created = Int(r.createdAt)
        width = r.width; height = r.height; format = r.format.rawValue; bytes = r.bytes; model = r.model; settings = r.settings
        watermark_id = r.watermarkID.map { String(format: "%08x", UInt32(truncatingIfNeeded: $0)) }
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

/// A JSON response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try jsonEncoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
}

/// One server-sent event (`event:` and a one-line JSON `data:`).
func sseEvent(_ name: String, _ value: some Encodable) -> ByteBuffer {
    let data = (try? jsonEncoder.encode(value)) ?? Data("{}".utf8)
    return ByteBuffer(string: "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
}

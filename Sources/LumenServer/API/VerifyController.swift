import Foundation
import Hummingbird
import LumenService

/// `POST /v1/verify`: the free check of a picture's marks that the Code of Practice asks providers
/// to offer. The body is the picture itself (any content type), or JSON `{"b64_json": "..."}`.
struct VerifyController {
    typealias Context = LumenRequestContext
    let state: ServerState
    static let maxPicture = 32 << 20

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/verify") { request, context in
            var data = try await ServerState.body(request, context: context, limit: Self.maxPicture * 4 / 3 + 1024)
            if request.headers[.contentType]?.hasPrefix("application/json") == true {
                guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let b64 = object["b64_json"] as? String, let decoded = Data(base64Encoded: b64) else {
                    throw APIError.invalid("b64_json", "Send the picture as the request body, or JSON with a b64_json field.")
                }
                data = decoded
            }
            guard !data.isEmpty, data.count <= Self.maxPicture else {
                throw APIError.invalid(nil, "Send a PNG, JPEG or WebP picture of at most 32 MiB.", code: "invalid_image")
            }
            do {
                return try jsonResponse(try ProvenanceCheck.check(data, trustAnchors: state.trustAnchors))
            } catch {
                throw APIError.invalid(nil, "The picture could not be read: \(error).", code: "invalid_image")
            }
        }
    }
}

import Foundation
import Hummingbird
import Logging
import LumenPipelines
import LumenService

/// Gives every response an `x-request-id` and turns every error into OpenAI's error shape: typed
/// errors keep their status; Hummingbird's own (unknown route, body too large) are translated;
/// anything else is a 500 whose message is logged with the request id (not sent to the client).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = LumenRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = "req_" + randomHex()
        let id = context.requestID
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = id
            return response
        } catch {
            return Self.apiError(for: error, logger: logger, requestID: id).response(requestID: id)
        }
    }

    static func apiError(for error: any Error, logger: Logger, requestID: String) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as ModelCatalogError:
            switch e {
            case .unknownModel: return .modelNotFound(e.description)
            case .unavailable: return APIError(.serviceUnavailable, e.description, type: "server_error", param: "model", code: "model_unavailable").noRetry()
            }
        case let e as PipelineError:
            switch e {
            case let .invalidRequest(field, _): return .invalid(field, e.description)
            case .cancelled: return APIError(.conflict, e.description, code: "cancelled")
            }
        case let e as HTTPError:
            switch e.status {
            case .contentTooLarge:
                return APIError(.contentTooLarge, "the request body is larger than 1 MiB", code: "request_too_large")
            case .notFound:
                return .notFound("no such route; see /openapi.yaml", code: "unknown_url")
            case .methodNotAllowed:
                return APIError(.methodNotAllowed, "method not allowed here; see /openapi.yaml")
            case .unauthorized:
                return APIError(.unauthorized, e.body ?? "a valid API key is required", type: "invalid_request_error", code: "invalid_api_key")
            default:
                return APIError(e.status, e.body ?? e.status.reasonPhrase, type: e.status.code >= 500 ? "server_error" : "invalid_request_error")
            }
        default:
            logger.error("request \(requestID) failed: \(error)")
            return APIError(.internalServerError, "the server failed to handle the request (request id \(requestID))", type: "server_error")
        }
    }
}

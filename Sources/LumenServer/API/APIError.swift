import Foundation
import HTTPTypes
import Hummingbird

/// An error in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with OpenAI's
/// status codes, so the official clients raise their matching exceptions (400 `BadRequestError`,
/// 401 `AuthenticationError`, 404 `NotFoundError`, 429 `RateLimitError`, 5xx `InternalServerError`).
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Extra headers (`Retry-After` on 429/503).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400 naming the offending request field.
    public static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param, code: code)
    }

    /// Tells the official clients not to retry (they retry 409, 429 and 5xx by default): a failed
    /// or cancelled generation, or a model that cannot load, would only fail again.
    public func noRetry() -> APIError {
        var e = self
        e.headers[HTTPField.Name("x-should-retry")!] = "false"
        return e
    }

    public static func modelNotFound(_ message: String) -> APIError {
        APIError(.notFound, message, param: "model", code: "model_not_found")
    }

    public static func notFound(_ message: String, code: String = "not_found") -> APIError {
        APIError(.notFound, message, code: code)
    }

    public static func rateLimited(_ message: String, retryAfter: Int) -> APIError {
        var e = APIError(.tooManyRequests, message, type: "rate_limit_error", code: "queue_full")
        e.headers[.retryAfter] = String(retryAfter)
        return e
    }

    /// The JSON body.
    public var body: Data {
        let error: [String: Any] = ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
    }

    public func response(requestID: String) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        h[.requestID] = requestID
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(data: body)))
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
}

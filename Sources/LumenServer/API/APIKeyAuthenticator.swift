import Foundation
import Hummingbird
import HummingbirdAuth

/// An API key and its profile.
public struct APIKey: Sendable, Codable, Equatable {
    public var key: String
    public var name: String
    public var region: String?

    public init(key: String, name: String, region: String? = nil) { self.key = key; self.name = name; self.region = region }
}

/// Bearer-token authentication (`Authorization: Bearer KEY`, as the OpenAI clients send it). With
/// no keys configured the server is open (a local install); with keys, every `/v1/` route needs one,
/// except picture files, whose random names are their capability (as OpenAI's image URLs are).
struct APIKeyAuthenticator: AuthenticatorMiddleware {
    typealias Context = LumenRequestContext
    let keys: [String: APIKey]

    init(keys: [APIKey]) {
        self.keys = Dictionary(keys.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func authenticate(request: Request, context: Context) async throws -> APICaller? {
        guard !keys.isEmpty else { return nil }
        let path = request.uri.path
        let protected = path.hasPrefix("/v1/") && !path.hasPrefix("/v1/images/files/")
        guard let bearer = request.headers.bearer else {
            if protected {
                throw APIError(.unauthorized, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.", code: "missing_api_key")
            }
            return nil
        }
        guard let key = keys[bearer.token] else {
            if protected { throw APIError(.unauthorized, "Incorrect API key provided.", code: "invalid_api_key") }
            return nil
        }
        return APICaller(name: key.name, region: key.region)
    }
}

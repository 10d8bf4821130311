import Hummingbird
import HummingbirdAuth

/// Who is calling: the API key's name, or nil when the server runs without keys.
public struct APICaller: Sendable, Equatable {
    public var name: String
    /// The region on the key's profile, if any (used by the region policy).
    public var region: String?
}

/// Per-request state: the authenticated caller and the request id every response carries.
public struct LumenRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: APICaller?
    public var requestID: String = ""

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// Request bodies are small JSON documents; anything over 1 MiB is refused with 413.
    public var maxUploadSize: Int { 1 << 20 }
}

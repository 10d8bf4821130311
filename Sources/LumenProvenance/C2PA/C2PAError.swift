/// Failures to build, embed or read Content Credentials.
public enum C2PAError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case unsupportedFormat(String)
    case keys(String)

    public var description: String {
        switch self {
        case let .malformed(s): "malformed C2PA data: \(s)"
        case let .unsupportedFormat(s): "cannot carry C2PA: \(s)"
        case let .keys(s): "signing keys: \(s)"
        }
    }
}

import Foundation
import LumenProvenance

/// Where the Content Credentials signing identity comes from: explicit paths (production keys and
/// chains, also `$LUMEN_SIGNING_KEY` / `$LUMEN_SIGNING_CHAIN`), else the data folder's `keys/`,
/// which `lumen keys init` fills with a local test CA — created on first use so that every
/// picture is signed from the first run.
public enum SigningKeys {
    public struct Resolved: Sendable {
        public var identity: SigningIdentity
        /// Set when a local test CA was just created (the caller tells the user).
        public var createdTestCA: TestCertificateAuthority.Files?
    }

    public static func keysFolder(dataDirectory: String) -> String { dataDirectory + "/keys" }

    /// - Parameter timeStampURL: an RFC 3161 time-stamp authority (also `$LUMEN_TSA_URL`).
    public static func resolve(dataDirectory: String, keyPath: String? = nil, chainPath: String? = nil,
                               timeStampURL: String? = nil) throws -> Resolved {
        var resolved = try resolveKeys(dataDirectory: dataDirectory, keyPath: keyPath, chainPath: chainPath)
        let env = ProcessInfo.processInfo.environment
        if let text = timeStampURL ?? env["LUMEN_TSA_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                throw C2PAError.keys("the time-stamp authority URL '\(text)' is not an http(s) URL")
            }
            resolved.identity.timeStampAuthority = TimeStampAuthority(url: url)
        }
        return resolved
    }

    static func resolveKeys(dataDirectory: String, keyPath: String?, chainPath: String?) throws -> Resolved {
        let env = ProcessInfo.processInfo.environment
        let key = keyPath ?? env["LUMEN_SIGNING_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let chain = chainPath ?? env["LUMEN_SIGNING_CHAIN"].flatMap { $0.isEmpty ? nil : $0 }
        switch (key, chain) {
        case let (k?, c?):
            return Resolved(identity: try SigningIdentity(keyPEMFile: k, chainPEMFile: c), createdTestCA: nil)
        case (.some, nil), (nil, .some):
            throw C2PAError.keys("give both the signing key and its certificate chain")
        case (nil, nil):
            let files = TestCertificateAuthority.Files(folder: keysFolder(dataDirectory: dataDirectory))
            var created: TestCertificateAuthority.Files?
            if !files.exist { created = try TestCertificateAuthority.create(in: files.folder) }
            return Resolved(identity: try SigningIdentity(keyPEMFile: files.signerKey, chainPEMFile: files.signerCertificateChain),
                            createdTestCA: created)
        }
    }
}

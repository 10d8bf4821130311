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

    public static func resolve(dataDirectory: String, keyPath: String? = nil, chainPath: String? = nil) throws -> Resolved {
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

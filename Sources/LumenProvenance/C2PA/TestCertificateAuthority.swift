import Crypto
import Foundation
import SwiftASN1
import X509

/// `lumen keys init`: a local test root CA and a separate signing certificate issued by it, with
/// the profile C2PA validators check (C2PA §14.5.1): the root has cA=true and keyCertSign; the
/// signer has cA=false, a critical digitalSignature key usage, the C2PA claim-signing EKU plus
/// emailProtection and documentSigning for older validators, SKI and AKI. (A self-signed leaf is
/// rejected by c2pa-rs, so a single certificate will not do.)
public enum TestCertificateAuthority {
    public static let claimSigningEKU: ASN1ObjectIdentifier = [1, 3, 6, 1, 4, 1, 62558, 2, 1]
    public static let documentSigningEKU: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 36]

    /// The files `create` writes.
    public struct Files: Sendable {
        public var folder: String
        public var rootCertificate: String { folder + "/root-ca.pem" }
        public var rootKey: String { folder + "/root-ca.key" }
        public var signerCertificateChain: String { folder + "/signer-chain.pem" }
        public var signerKey: String { folder + "/signer.key" }

        public init(folder: String) { self.folder = folder }

        public var exist: Bool { FileManager.default.fileExists(atPath: signerKey) && FileManager.default.fileExists(atPath: signerCertificateChain) }
    }

    /// Creates the CA and signer in `folder` (mode 0700; keys 0600). Refuses to overwrite existing keys.
    @discardableResult
    public static func create(in folder: String, organization: String = "Lumen local test", validDays: Int = 825) throws -> Files {
        let files = Files(folder: folder)
        guard !FileManager.default.fileExists(atPath: files.signerKey), !FileManager.default.fileExists(atPath: files.rootKey) else {
            throw C2PAError.keys("keys already exist in \(folder); remove them first to make new ones")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder)

        let now = Date()
        let rootKey = P256.Signing.PrivateKey()
        let rootName = try DistinguishedName {
            OrganizationName(organization)
            CommonName("\(organization) root CA")
        }
        let rootPublic = Certificate.PublicKey(rootKey.publicKey)
        let rootSKI = SubjectKeyIdentifier(hash: rootPublic)
        let root = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: rootPublic,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(validDays) * 86400 * 2),
            issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                rootSKI
            },
            issuerPrivateKey: .init(rootKey))

        let signerKey = P256.Signing.PrivateKey()
        let signerPublic = Certificate.PublicKey(signerKey.publicKey)
        let signerName = try DistinguishedName {
            OrganizationName(organization)
            CommonName("Lumen content signer")
        }
        let signer = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: signerPublic,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(validDays) * 86400),
            issuer: rootName, subject: signerName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.init(oid: claimSigningEKU), .emailProtection, .init(oid: documentSigningEKU)])
                SubjectKeyIdentifier(hash: signerPublic)
                AuthorityKeyIdentifier(keyIdentifier: rootSKI.keyIdentifier)
            },
            issuerPrivateKey: .init(rootKey))

        try write(try root.serializeAsPEM().pemString + "\n", to: files.rootCertificate, mode: 0o644)
        try write(rootKey.pemRepresentation + "\n", to: files.rootKey, mode: 0o600)
        try write(try signer.serializeAsPEM().pemString + "\n" + root.serializeAsPEM().pemString + "\n", to: files.signerCertificateChain, mode: 0o644)
        try write(signerKey.pemRepresentation + "\n", to: files.signerKey, mode: 0o600)
        return files
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        // Create with the final mode so that a key is never readable by others, even briefly.
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw C2PAError.keys("cannot write \(path)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}

import Crypto
import Foundation
import SwiftASN1
import X509

/// The key and certificate chain that sign Content Credentials (ES256: ECDSA P-256 with SHA-256).
public struct SigningIdentity: Sendable {
    /// The key's raw scalar (swift-crypto's key type is not `Sendable`; it is rebuilt per signature).
    let rawKey: Data
    public var privateKey: P256.Signing.PrivateKey {
        // rawKey always comes from a valid key, so this cannot fail.
        (try? P256.Signing.PrivateKey(rawRepresentation: rawKey)) ?? P256.Signing.PrivateKey()
    }
    /// Leaf first, then intermediates; the root is left out (C2PA §14.5: trust anchors are the verifier's).
    public let chain: [Certificate]
    /// When set, every signature is time-stamped by this RFC 3161 authority.
    public var timeStampAuthority: TimeStampAuthority?

    public init(privateKey: P256.Signing.PrivateKey, chain: [Certificate]) throws {
        guard let leaf = chain.first else { throw C2PAError.keys("the certificate chain is empty") }
        guard leaf.publicKey == Certificate.PublicKey(privateKey.publicKey) else {
            throw C2PAError.keys("the private key does not belong to the first certificate of the chain")
        }
        self.rawKey = privateKey.rawRepresentation
        self.chain = chain
    }

    /// Loads a PEM private key (PKCS#8 or SEC1) and a PEM chain (leaf first; a self-signed root at
    /// the end is dropped).
    public init(keyPEMFile: String, chainPEMFile: String) throws {
        guard let keyText = try? String(contentsOfFile: keyPEMFile, encoding: .utf8) else {
            throw C2PAError.keys("cannot read the private key \(keyPEMFile)")
        }
        guard let chainText = try? String(contentsOfFile: chainPEMFile, encoding: .utf8) else {
            throw C2PAError.keys("cannot read the certificate chain \(chainPEMFile)")
        }
        let key: P256.Signing.PrivateKey
        do { key = try P256.Signing.PrivateKey(pemRepresentation: keyText) } catch {
            throw C2PAError.keys("\(keyPEMFile) is not a PEM P-256 private key (ES256 is the supported algorithm)")
        }
        var certs = try Self.certificates(pem: chainText, file: chainPEMFile)
        if certs.count > 1, let last = certs.last, last.issuer == last.subject { certs.removeLast() }
        try self.init(privateKey: key, chain: certs)
    }

    /// Every certificate in a PEM text.
    public static func certificates(pem: String, file: String) throws -> [Certificate] {
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: pem) } catch {
            throw C2PAError.keys("\(file) is not PEM")
        }
        let certs = try documents.filter { $0.discriminator == "CERTIFICATE" }.map { doc in
            do { return try Certificate(derEncoded: doc.derBytes) } catch { throw C2PAError.keys("\(file) holds an unreadable certificate") }
        }
        guard !certs.isEmpty else { throw C2PAError.keys("\(file) holds no certificate") }
        return certs
    }

    /// DER of each certificate in the chain, for COSE `x5chain`.
    public var chainDER: [[UInt8]] {
        chain.map { cert in
            var s = DER.Serializer()
            try? s.serialize(cert)
            return s.serializedBytes
        }
    }
}

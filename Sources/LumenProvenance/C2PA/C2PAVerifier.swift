import Crypto
import Foundation
import SwiftASN1
import X509

/// The result of checking a file's Content Credentials, in the vocabulary of the C2PA
/// specification's validation status codes (§15), so our report reads like c2pa-rs's.
public struct C2PAReport: Sendable, Equatable {
    public enum State: String, Sendable { case absent, invalid, valid, trusted }
    public var state: State = .absent
    /// Success codes (e.g. `claimSignature.validated`, `assertion.dataHash.match`).
    public var successes: [String] = []
    /// Failure codes (e.g. `assertion.dataHash.mismatch`); `signingCredential.untrusted` alone still means valid.
    public var failures: [String] = []
    /// Plain-language explanations of the failures: what was tampered with.
    public var problems: [String] = []
    public var digitalSourceType: String?
    public var generator: String?
    public var model: String?
    public var instanceID: String?
    public var signer: String?
    /// The RFC 3161 time-stamp's time (`genTime`, as the TSA wrote it), when the signature has one.
    public var timeStamp: String?
}

/// Checks a manifest store the way a C2PA validator does (§15): the claim's COSE signature with
/// the leaf certificate, the certificate chain (up to a trust anchor when one is given), the
/// hashed URIs of the assertions, and the `c2pa.hash.data` hard binding over the file.
public enum C2PAVerifier {
    public static func verify(_ data: Data, trustAnchors: [Certificate] = [], now: Date = Date()) -> C2PAReport {
        var r = C2PAReport()
        let storeBytes: [UInt8]
        do {
            guard let s = try C2PAEmbedding.extract(data) else { return r }
            storeBytes = s
        } catch {
            r.state = .invalid
            r.failures.append("manifest.inaccessible")
            r.problems.append("\(error)")
            return r
        }
        do {
            try check(storeBytes, file: [UInt8](data), anchors: trustAnchors, now: now, into: &r)
        } catch {
            r.failures.append("manifest.malformed")
            r.problems.append("\(error)")
        }
        let onlyUntrusted = r.failures.allSatisfy { $0 == "signingCredential.untrusted" }
        r.state = !onlyUntrusted ? .invalid : (r.failures.isEmpty ? .trusted : .valid)
        return r
    }

    static func check(_ storeBytes: [UInt8], file: [UInt8], anchors: [Certificate], now: Date, into r: inout C2PAReport) throws {
        guard let store = try JUMBF.parse(storeBytes).first, store.contentType == "c2pa" else {
            throw C2PAError.malformed("the manifest store is not a c2pa superbox")
        }
        // The active manifest is the last one.
        guard let manifest = store.children.last(where: { $0.contentType == "c2ma" }) else { throw C2PAError.malformed("no manifest in the store") }
        guard let claimBox = manifest.child(label: "c2pa.claim.v2") ?? manifest.child(label: "c2pa.claim"),
              let claimBytes = claimBox.children.first(where: { $0.type == "cbor" })?.payload else {
            throw C2PAError.malformed("the manifest has no claim")
        }
        guard let signatureBytes = manifest.child(label: "c2pa.signature")?.children.first(where: { $0.type == "cbor" })?.payload else {
            throw C2PAError.malformed("the manifest has no signature")
        }
        let claim = try CBOR.decode(claimBytes)
        r.instanceID = claim["instanceID"]?.text
        if let info = claim["claim_generator_info"] {
            r.generator = [info["name"]?.text, info["version"]?.text].compactMap { $0 }.joined(separator: " ")
        }

        // Signature and certificates.
        let cose = try CBOR.decode(signatureBytes)
        guard case let .tagged(18, body) = cose, let parts = body.array, parts.count == 4,
              let protectedBytes = parts[0].bytes, let signature = parts[3].bytes else {
            throw C2PAError.malformed("the signature is not a COSE_Sign1")
        }
        let protected = try CBOR.decode(protectedBytes)
        let chainDER: [[UInt8]]
        switch protected[intKey: 33] {
        case let .array(items)?: chainDER = items.compactMap(\.bytes)
        case let .bytes(one)?: chainDER = [one]
        default: chainDER = []
        }
        let chain = try chainDER.map { try Certificate(derEncoded: $0) }
        guard let leaf = chain.first else {
            r.failures.append("claimSignature.missing")
            r.problems.append("the signature carries no certificate")
            return
        }
        r.signer = leaf.subject.description
        guard protected[intKey: 1]?.int == -7, let key = P256.Signing.PublicKey(leaf.publicKey),
              let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
            r.failures.append("algorithm.unsupported")
            r.problems.append("only ES256 signatures with P-256 certificates are checked")
            return
        }
        if key.isValidSignature(ecdsa, for: COSESign1.toBeSigned(protected: protectedBytes, payload: claimBytes)) {
            r.successes.append("claimSignature.validated")
        } else {
            r.failures.append("claimSignature.mismatch")
            r.problems.append("the claim does not match its signature: the manifest was altered after signing")
        }
        if case let .map(entries) = parts[1], let tst = parts[1]["sigTst2"]?["tstTokens"]?.array?.first?["val"]?.bytes, !entries.isEmpty {
            let expected = Array(SHA256.hash(data: TimeStampAuthority.countersignatureData(protected: protectedBytes, signature: signature)))
            if let info = try? TimeStampAuthority.tstInfo(token: tst), info.imprint == expected {
                r.successes.append("timeStamp.validated")
                r.timeStamp = info.genTime
            } else {
                r.failures.append("timeStamp.mismatch")
                r.problems.append("the time-stamp does not cover this signature")
            }
        }
        if chain.allSatisfy({ $0.notValidBefore <= now && now <= $0.notValidAfter }) {
            r.successes.append("claimSignature.insideValidity")
        } else {
            r.failures.append("signingCredential.expired")
            r.problems.append("a certificate of the signing chain is outside its validity period")
        }
        checkChain(chain, anchors: anchors, into: &r)

        // Assertions named by the claim must hash to what the claim says.
        guard let assertions = manifest.child(label: "c2pa.assertions") else { throw C2PAError.malformed("the manifest has no assertions") }
        for uri in claim["created_assertions"]?.array ?? claim["assertions"]?.array ?? [] {
            guard let url = uri["url"]?.text, let expected = uri["hash"]?.bytes else { continue }
            let label = String(url.split(separator: "/").last ?? "")
            guard let box = assertions.child(label: label) else {
                r.failures.append("assertion.missing")
                r.problems.append("the assertion \(label) named by the claim is missing")
                continue
            }
            if C2PAManifest.hashOfSuperbox(box.raw) == expected {
                r.successes.append("assertion.hashedURI.match")
            } else {
                r.failures.append("assertion.hashedURI.mismatch")
                r.problems.append("the assertion \(label) was changed after signing")
            }
        }
        if let actions = assertions.child(label: "c2pa.actions.v2") ?? assertions.child(label: "c2pa.actions"),
           let content = actions.children.first(where: { $0.type == "cbor" }),
           let list = try CBOR.decode(content.payload)["actions"]?.array {
            if let created = list.first(where: { $0["action"]?.text == "c2pa.created" }) {
                r.digitalSourceType = created["digitalSourceType"]?.text
                r.model = created["softwareAgent"]?["org.lumen.model"]?.text
            }
        }

        // Hard binding: SHA-256 over the file minus the exclusions.
        guard let binding = assertions.child(label: "c2pa.hash.data")?.children.first(where: { $0.type == "cbor" }) else {
            r.failures.append("claim.hardBindings.missing")
            r.problems.append("the manifest has no hard binding to the file's bytes")
            return
        }
        let hashData = try CBOR.decode(binding.payload)
        var hasher = SHA256()
        var position = 0
        let exclusions = (hashData["exclusions"]?.array ?? []).compactMap { e -> (Int, Int)? in
            guard let s = e["start"]?.int, let l = e["length"]?.int, s >= 0, l >= 0 else { return nil }
            return (s, l)
        }.sorted { $0.0 < $1.0 }
        for (start, length) in exclusions {
            guard start >= position, start + length <= file.count else {
                r.failures.append("assertion.dataHash.mismatch")
                r.problems.append("the hard binding's exclusions do not fit the file")
                return
            }
            hasher.update(data: file[position..<start])
            position = start + length
        }
        hasher.update(data: file[position...])
        if Array(hasher.finalize()) == hashData["hash"]?.bytes {
            r.successes.append("assertion.dataHash.match")
        } else {
            r.failures.append("assertion.dataHash.mismatch")
            r.problems.append("the file's bytes (pixels or metadata) were changed after signing: the hard binding does not match")
        }
    }

    /// Each certificate must be signed by the next; the last must be signed by a trust anchor for
    /// `signingCredential.trusted`. A lone self-signed certificate is invalid (C2PA §14.5).
    static func checkChain(_ chain: [Certificate], anchors: [Certificate], into r: inout C2PAReport) {
        for (cert, issuer) in zip(chain, chain.dropFirst()) where !issuer.publicKey.isValidSignature(cert.signature, for: cert) {
            r.failures.append("signingCredential.invalid")
            r.problems.append("the certificate chain is broken: \(cert.subject) is not signed by \(issuer.subject)")
            return
        }
        guard let last = chain.last else { return }
        if chain.count == 1, last.issuer == last.subject {
            r.failures.append("signingCredential.invalid")
            r.problems.append("the signing certificate is self-signed")
            return
        }
        let anchor = anchors.first { $0.subject == last.issuer && $0.publicKey.isValidSignature(last.signature, for: last) }
        if anchor != nil {
            r.successes.append("signingCredential.trusted")
        } else {
            r.failures.append("signingCredential.untrusted")
        }
    }
}

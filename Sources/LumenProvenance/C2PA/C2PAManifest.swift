import Crypto
import Foundation

/// What a manifest says about a picture.
public struct C2PAClaimInfo: Sendable {
    /// Equal to the XMP `xmpMM:InstanceID` of the same file.
    public var instanceID: String
    public var generatorName = "Lumen"
    public var generatorVersion: String
    /// Named in the action's `softwareAgent`; nil where it must stay hidden (arena battles before the vote).
    public var model: String?
    public var title: String?
    public var digitalSourceType = XMP.trainedAlgorithmicMedia

    public init(instanceID: String, generatorVersion: String, model: String?, title: String? = nil) {
        self.instanceID = instanceID; self.generatorVersion = generatorVersion; self.model = model; self.title = title
    }
}

/// Builds a C2PA manifest store (C2PA technical specification 2.x, §11): one standard manifest
/// holding a `c2pa.actions.v2` assertion (`c2pa.created` with the IPTC digital source type and
/// the software agent), a `c2pa.hash.data` hard binding, a `c2pa.claim.v2` claim listing both, and
/// the claim's COSE_Sign1 signature (ES256, raw r‖s, `x5chain` in the protected header, detached
/// payload) — the layout of c2pa-rs's `claim.rs` and `cose/sign1.rs`.
public enum C2PAManifest {
    /// The binding's exclusion: the byte range the store will occupy in the file.
    public struct Exclusion: Sendable, Equatable {
        public var start: Int
        public var length: Int
    }

    /// - Parameter dataHash: SHA-256 of the file without the excluded range.
    public static func store(info: C2PAClaimInfo, identity: SigningIdentity, exclusion: Exclusion, dataHash: [UInt8],
                             manifestID: UUID = UUID()) throws -> [UInt8] {
        let urn = "urn:c2pa:\(manifestID.uuidString.lowercased())"
        var agent: [(CBOR, CBOR)] = [(.text("name"), .text(info.generatorName)), (.text("version"), .text(info.generatorVersion))]
        if let model = info.model { agent.append((.text("org.lumen.model"), .text(model))) }
        let actions = CBOR.map([(.text("actions"), .array([.map([
            (.text("action"), .text("c2pa.created")),
            (.text("digitalSourceType"), .text(info.digitalSourceType)),
            (.text("softwareAgent"), .map(agent)),
        ])]))])
        let hashData = CBOR.map([
            (.text("exclusions"), .array([.map([(.text("start"), .int(exclusion.start)), (.text("length"), .int(exclusion.length))])])),
            (.text("name"), .text("jumbf manifest")),
            (.text("alg"), .text("sha256")),
            (.text("hash"), .bytes(dataHash)),
            (.text("pad"), .bytes([])),
        ])
        let assertionBoxes = [
            ("c2pa.actions.v2", JUMBF.cborBox(label: "c2pa.actions.v2", actions)),
            ("c2pa.hash.data", JUMBF.cborBox(label: "c2pa.hash.data", hashData)),
        ]
        var claimEntries: [(CBOR, CBOR)] = [
            (.text("instanceID"), .text(info.instanceID)),
            (.text("claim_generator_info"), .map([(.text("name"), .text(info.generatorName)), (.text("version"), .text(info.generatorVersion))])),
            (.text("signature"), .text("self#jumbf=/c2pa/\(urn)/c2pa.signature")),
            (.text("created_assertions"), .array(assertionBoxes.map { label, box in
                .map([(.text("url"), .text("self#jumbf=c2pa.assertions/\(label)")), (.text("hash"), .bytes(hashOfSuperbox(box)))])
            })),
            (.text("alg"), .text("sha256")),
        ]
        if let title = info.title { claimEntries.append((.text("dc:title"), .text(title))) }
        let claim = CBOR.map(claimEntries).encoded()
        let signature = try COSESign1.sign(payload: claim, identity: identity)

        let manifest = JUMBF.superbox(contentType: "c2ma", label: urn, contents: [
            JUMBF.superbox(contentType: "c2as", label: "c2pa.assertions", contents: assertionBoxes.map(\.1)),
            JUMBF.superbox(contentType: "c2cl", label: "c2pa.claim.v2", contents: [JUMBF.box("cbor", claim)]),
            JUMBF.superbox(contentType: "c2cs", label: "c2pa.signature", contents: [JUMBF.box("cbor", signature)]),
        ])
        return JUMBF.superbox(contentType: "c2pa", label: "c2pa", contents: [manifest])
    }

    /// A hashed URI's hash: SHA-256 of the superbox without its 8-byte header (C2PA §8.4.2).
    public static func hashOfSuperbox(_ box: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: box[8...])) }

    /// Builds the store for a file into which it will be inserted at `offset`, taking `overhead`
    /// bytes of container framing: the binding's `length` is part of the store, so the store is
    /// rebuilt until its size is stable. Two passes suffice without a time-stamp; with one, each
    /// pass carries a new token whose DER length varies by a byte or two (an ECDSA-signed token's
    /// signature is 70–72 bytes), so two passes agree only about 40 % of the time: 32 passes make a
    /// failure practically impossible (0.6³¹). Padding the COSE unprotected header to a reserved
    /// size, as c2pa-rs does, would need one token only; that is the better fix, not done yet.
    public static func storeForInsertion(info: C2PAClaimInfo, identity: SigningIdentity, fileHash: [UInt8], offset: Int,
                                         framing: (Int) -> Int) throws -> [UInt8] {
        let id = UUID()
        var length = 0
        for _ in 0..<32 {
            let store = try Self.store(info: info, identity: identity, exclusion: Exclusion(start: offset, length: length), dataHash: fileHash, manifestID: id)
            let framed = framing(store.count)
            if framed == length { return store }
            length = framed
        }
        throw C2PAError.malformed("the manifest size did not settle")
    }
}

/// COSE_Sign1 (RFC 9052) as C2PA uses it (§13.2): protected header {alg: ES256 (-7), x5chain (33):
/// [DER…]}, empty unprotected header, detached payload (`null`), signature over
/// `["Signature1", protected, h'', claim]`, ECDSA as raw r‖s.
public enum COSESign1 {
    public static func protectedHeader(_ identity: SigningIdentity) -> [UInt8] {
        CBOR.map([(.int(1), .int(-7)), (.int(33), .array(identity.chainDER.map { .bytes($0) }))]).encoded()
    }

    public static func toBeSigned(protected: [UInt8], payload: [UInt8]) -> [UInt8] {
        CBOR.array([.text("Signature1"), .bytes(protected), .bytes([]), .bytes(payload)]).encoded()
    }

    public static func sign(payload: [UInt8], identity: SigningIdentity) throws -> [UInt8] {
        let protected = protectedHeader(identity)
        let signature = Array(try identity.privateKey.signature(for: toBeSigned(protected: protected, payload: payload)).rawRepresentation)
        var unprotected = CBOR.map([])
        if let tsa = identity.timeStampAuthority {
            let token = try tsa.timeStamp(TimeStampAuthority.countersignatureData(protected: protected, signature: signature))
            unprotected = TimeStampAuthority.unprotectedHeader(token: token)
        }
        return CBOR.tagged(18, .array([.bytes(protected), unprotected, .null, .bytes(signature)])).encoded()
    }
}

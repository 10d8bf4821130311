import Crypto
import Foundation
import LumenImageIO
@testable import LumenProvenance
import Testing
import X509

@Suite("Content Credentials (C2PA)")
struct ContentCredentialsTests {
    static func keys() throws -> (SigningIdentity, Certificate) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lumen-keys-\(UUID().uuidString)").path
        let files = try TestCertificateAuthority.create(in: folder)
        let identity = try SigningIdentity(keyPEMFile: files.signerKey, chainPEMFile: files.signerCertificateChain)
        let root = try SigningIdentity.certificates(pem: try String(contentsOfFile: files.rootCertificate, encoding: .utf8), file: "root")[0]
        return (identity, root)
    }

    static func png() throws -> Data {
        let pixels = (0..<(16 * 16 * 3)).map { UInt8($0 % 251) }
        return try PNGEncoder.encode(width: 16, height: 16, pixels: pixels, text: [(XMP.pngKeyword, XMP.packet(instanceID: "xmp:iid:1", creatorTool: "Lumen"))])
    }

    static let info = C2PAClaimInfo(instanceID: "xmp:iid:1", generatorVersion: "0.2.0", model: "tiny")

    @Test("CBOR: RFC 8949 Appendix A vectors, deterministic map order, round trip")
    func cbor() throws {
        #expect(CBOR.int(0).encoded() == [0x00])
        #expect(CBOR.int(23).encoded() == [0x17])
        #expect(CBOR.int(24).encoded() == [0x18, 0x18])
        #expect(CBOR.int(1000).encoded() == [0x19, 0x03, 0xE8])
        #expect(CBOR.int(1_000_000).encoded() == [0x1A, 0x00, 0x0F, 0x42, 0x40])
        #expect(CBOR.int(-1).encoded() == [0x20])
        #expect(CBOR.int(-7).encoded() == [0x26])
        #expect(CBOR.int(-1000).encoded() == [0x39, 0x03, 0xE7])
        #expect(CBOR.text("IETF").encoded() == [0x64, 0x49, 0x45, 0x54, 0x46])
        #expect(CBOR.tagged(18, .null).encoded() == [0xD2, 0xF6])
        // Keys sorted by their encoded bytes: 10 < -1 < "z" < "aa".
        let m = CBOR.map([(.text("aa"), .int(1)), (.text("z"), .int(2)), (.int(-1), .int(3)), (.int(10), .int(4))])
        #expect(m.encoded() == [0xA4, 0x0A, 0x04, 0x20, 0x03, 0x61, 0x7A, 0x02, 0x62, 0x61, 0x61, 0x01])
        let nested = CBOR.map([(.text("a"), .array([.bytes([1, 2]), .bool(true), .null, .double(1.5)]))])
        #expect(try CBOR.decode(nested.encoded()) == nested)
        #expect(throws: C2PAError.self) { try CBOR.decode([0x9F]) }  // indefinite length
        #expect(throws: C2PAError.self) { try CBOR.decode([0x5A, 0xFF, 0xFF, 0xFF, 0xFF]) }  // string past the end
    }

    @Test("A signed PNG and JPEG verify; the XMP instance id and digital source type are in the claim")
    func signAndVerify() throws {
        let (identity, root) = try Self.keys()
        let signedPNG = try C2PAEmbedding.signPNG(try Self.png(), info: Self.info, identity: identity)
        // The picture still decodes, and the store sits right after IHDR.
        #expect(try PNGDecoder.decodeRGB(signedPNG).width == 16)
        #expect(String(decoding: signedPNG[37..<41], as: UTF8.self) == "caBX")
        let untrusted = C2PAVerifier.verify(signedPNG)
        #expect(untrusted.state == .valid)
        #expect(untrusted.failures == ["signingCredential.untrusted"])
        #expect(untrusted.successes.contains("claimSignature.validated"))
        #expect(untrusted.successes.contains("assertion.dataHash.match"))
        #expect(untrusted.digitalSourceType == XMP.trainedAlgorithmicMedia)
        #expect(untrusted.instanceID == "xmp:iid:1")
        #expect(untrusted.model == "tiny")
        #expect(C2PAVerifier.verify(signedPNG, trustAnchors: [root]).state == .trusted)

        let jpeg = try JPEGCodec.encode(width: 16, height: 16, rgb: (0..<(16 * 16 * 3)).map { UInt8($0 % 199) }, quality: 90)
        let signedJPEG = try C2PAEmbedding.signJPEG(jpeg, info: Self.info, identity: identity)
        #expect(try JPEGCodec.decodeRGB(signedJPEG).width == 16)
        #expect(C2PAVerifier.verify(signedJPEG, trustAnchors: [root]).state == .trusted)
        #expect(C2PAVerifier.verify(try Self.png()).state == .absent)

        let webp = try WebPCodec.encode(width: 16, height: 16, rgb: (0..<(16 * 16 * 3)).map { UInt8($0 % 97) }, quality: 90,
                                        xmp: XMP.packet(instanceID: "xmp:iid:1", creatorTool: "Lumen"))
        let signedWebP = try C2PAEmbedding.signWebP(webp, info: Self.info, identity: identity)
        #expect(try WebPCodec.decodeRGB(signedWebP).width == 16)
        #expect(WebPCodec.xmp(signedWebP)?.contains("trainedAlgorithmicMedia") == true)
        #expect(C2PAVerifier.verify(signedWebP, trustAnchors: [root]).state == .trusted)
        var tampered = [UInt8](signedWebP)
        tampered[40] ^= 0x01
        #expect(C2PAVerifier.verify(Data(tampered), trustAnchors: [root]).failures.contains("assertion.dataHash.mismatch"))
    }

    @Test("A store larger than one APP11 segment is split and read back")
    func jpegSegments() throws {
        let store = (0..<150_000).map { UInt8($0 % 256) }
        let segments = C2PAEmbedding.app11Segments(store)
        let jpeg = Data([0xFF, 0xD8] + segments + [0xFF, 0xD9])
        #expect(try C2PAEmbedding.extract(jpeg) == store)
    }

    @Test("Tampering is named: pixels, the claim, the assertion, the signer")
    func tampering() throws {
        let (identity, root) = try Self.keys()
        let signed = [UInt8](try C2PAEmbedding.signPNG(try Self.png(), info: Self.info, identity: identity))

        var pixels = signed
        let idat = try #require(pixels.firstRange(of: Array("IDAT".utf8)))
        pixels[idat.upperBound + 6] ^= 0xFF
        let p = C2PAVerifier.verify(Data(pixels), trustAnchors: [root])
        #expect(p.state == .invalid)
        #expect(p.failures == ["assertion.dataHash.mismatch"])
        #expect(p.problems.contains { $0.contains("changed after signing") })

        // Change the digital source type inside the actions assertion (same length).
        var assertion = signed
        let where_ = try #require(assertion.firstRange(of: Array("trainedAlgorithmicMedia".utf8)))
        assertion[where_.lowerBound] = UInt8(ascii: "T")
        let a = C2PAVerifier.verify(Data(assertion), trustAnchors: [root])
        #expect(a.failures.contains("assertion.hashedURI.mismatch"))

        // Change the claim (its instance id).
        var claim = signed
        let iid = try #require(claim.firstRange(of: Array("xmp:iid:1".utf8)))  // the claim comes before the XMP chunk
        claim[iid.upperBound - 1] = UInt8(ascii: "2")
        #expect(C2PAVerifier.verify(Data(claim), trustAnchors: [root]).failures.contains("claimSignature.mismatch"))

        // Another CA is not our anchor.
        let (_, otherRoot) = try Self.keys()
        #expect(C2PAVerifier.verify(Data(signed), trustAnchors: [otherRoot]).failures == ["signingCredential.untrusted"])
    }

    @Test("A self-signed signing certificate is refused as C2PA validators refuse it")
    func selfSigned() throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("self") }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(3600), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(KeyUsage(digitalSignature: true)) }, issuerPrivateKey: .init(key))
        let identity = try SigningIdentity(privateKey: key, chain: [cert])
        let signed = try C2PAEmbedding.signPNG(try Self.png(), info: Self.info, identity: identity)
        let r = C2PAVerifier.verify(signed)
        #expect(r.state == .invalid)
        #expect(r.failures.contains("signingCredential.invalid"))
    }

    @Test("Key files are private; a key that does not match its certificate is refused; keys are not overwritten")
    func keyFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lumen-keys-\(UUID().uuidString)").path
        let files = try TestCertificateAuthority.create(in: folder)
        for path in [files.signerKey, files.rootKey] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0)
        }
        #expect(throws: C2PAError.self) { try TestCertificateAuthority.create(in: folder) }
        #expect(throws: C2PAError.self) { try SigningIdentity(keyPEMFile: files.rootKey, chainPEMFile: files.signerCertificateChain) }
        #expect(throws: C2PAError.self) { try SigningIdentity(keyPEMFile: files.signerCertificateChain, chainPEMFile: files.signerCertificateChain) }
    }

    @Test("Malformed stores are errors, never crashes")
    func malformed() throws {
        #expect(throws: C2PAError.self) { try JUMBF.parse([0, 0, 0, 4, 0x6A, 0x75, 0x6D, 0x62]) }
        #expect(throws: C2PAError.self) { try JUMBF.parse([0, 0, 0xFF, 0xFF, 0x6A, 0x75, 0x6D, 0x62]) }
        var png = [UInt8](try Self.png())
        let chunk = [UInt8](C2PAEmbedding.pngChunk("caBX", [0, 0, 0, 9, 0x6A, 0x75, 0x6D, 0x62, 0]))
        png.insert(contentsOf: chunk, at: 33)
        let r = C2PAVerifier.verify(Data(png))
        #expect(r.state == .invalid)
        #expect(r.failures == ["manifest.malformed"])
    }
}

import Crypto
import Foundation
import LumenImageIO

/// Puts a manifest store into PNG, JPEG and WebP files and takes it out again (C2PA Annex A.3, as
/// c2pa-rs's `png_io.rs`, `jpeg_io.rs` and `riff_io.rs` do): PNG — a `caBX` chunk right after
/// `IHDR`; JPEG — APP11 segments right after the APP0 (JFIF) segment, in JPEG XT box format;
/// WebP — a `C2PA` chunk at the end of the RIFF.
///
/// Since the store is inserted into finished bytes, the hard binding's hash is simply the SHA-256
/// of the file before insertion, and the exclusion is where the store goes.
public enum C2PAEmbedding {
    // MARK: PNG

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Signature (8) + IHDR chunk (4 + 4 + 13 + 4).
    static let pngAfterIHDR = 33

    public static func signPNG(_ png: Data, info: C2PAClaimInfo, identity: SigningIdentity) throws -> Data {
        let bytes = [UInt8](png)
        guard bytes.count > pngAfterIHDR, Array(bytes[0..<8]) == pngSignature, String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR" else {
            throw C2PAError.unsupportedFormat("not a PNG that starts with IHDR")
        }
        let hash = Array(SHA256.hash(data: bytes))
        let store = try C2PAManifest.storeForInsertion(info: info, identity: identity, fileHash: hash, offset: pngAfterIHDR) { $0 + 12 }
        return Data(bytes[0..<pngAfterIHDR] + pngChunk("caBX", store) + bytes[pngAfterIHDR...])
    }

    static func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] { [UInt8](PNGEncoder.chunk(type: type, data: Data(data))) }

    // MARK: JPEG

    /// Largest store bytes per APP11 segment.
    static let jpegChunk = 64_000

    public static func signJPEG(_ jpeg: Data, info: C2PAClaimInfo, identity: SigningIdentity) throws -> Data {
        let bytes = [UInt8](jpeg)
        guard bytes.count > 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw C2PAError.unsupportedFormat("not a JPEG") }
        // After SOI, and after APP0 (JFIF) when it comes first.
        var offset = 2
        if bytes[2] == 0xFF, bytes[3] == 0xE0, bytes.count > 6 {
            offset = 4 + (Int(bytes[4]) << 8 | Int(bytes[5]))
        }
        guard offset <= bytes.count else { throw C2PAError.unsupportedFormat("JPEG APP0 segment runs past the end") }
        let hash = Array(SHA256.hash(data: bytes))
        let store = try C2PAManifest.storeForInsertion(info: info, identity: identity, fileHash: hash, offset: offset) {
            app11Segments(Array(repeating: 0, count: $0)).count
        }
        return Data(bytes[0..<offset] + app11Segments(store) + bytes[offset...])
    }

    /// `FF EB | Lp | "JP" | En=0x0211 | Z (1, 2, …) | [Z > 1: LBox+TBox of the store again] | data`.
    static func app11Segments(_ store: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0, sequence: UInt32 = 1
        while index < store.count {
            let repeatHeader: [UInt8] = sequence > 1 ? Array(store[0..<8]) : []
            let take = min(jpegChunk - repeatHeader.count, store.count - index)
            let body: [UInt8] = Array("JP".utf8) + [0x02, 0x11] + withUnsafeBytes(of: sequence.bigEndian, Array.init) + repeatHeader + store[index..<index + take]
            out += [0xFF, 0xEB, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body
            index += take
            sequence += 1
        }
        return out
    }

    // MARK: WebP

    /// WebP: the `C2PA` chunk goes last. Appending a chunk changes the RIFF size field, which the
    /// hard binding covers, so the file is first assembled with a placeholder store of the final
    /// size, hashed without the chunk, and then given the real store (same size: the hash and
    /// signature have fixed lengths).
    public static func signWebP(_ webp: Data, info: C2PAClaimInfo, identity: SigningIdentity) throws -> Data {
        let bytes = [UInt8](webp)
        guard bytes.count >= 20, Array(bytes[0..<4]) == Array("RIFF".utf8), Array(bytes[8..<12]) == Array("WEBP".utf8) else {
            throw C2PAError.unsupportedFormat("not a WebP file")
        }
        let body = Array(bytes[8...])
        let offset = bytes.count
        func assemble(_ store: [UInt8]) -> [UInt8] {
            var chunk = Array("C2PA".utf8) + le32(store.count) + store
            if store.count % 2 == 1 { chunk.append(0) }
            let riffBody = body + chunk
            return Array("RIFF".utf8) + le32(riffBody.count) + riffBody
        }
        // A time-stamp token may change length between the two signatures; then try again
        // (each try succeeds about 40 % of the time with a varying token, always without one).
        for _ in 0..<16 {
            let placeholder = try C2PAManifest.storeForInsertion(info: info, identity: identity, fileHash: [UInt8](repeating: 0, count: 32),
                                                                 offset: offset) { $0 + 8 }
            let exclusion = C2PAManifest.Exclusion(start: offset, length: placeholder.count + 8)
            let draft = assemble(placeholder)
            var hasher = SHA256()
            hasher.update(data: draft[0..<offset])
            hasher.update(data: draft[(offset + exclusion.length)...])
            let store = try C2PAManifest.store(info: info, identity: identity, exclusion: exclusion, dataHash: Array(hasher.finalize()))
            if store.count == placeholder.count { return Data(assemble(store)) }
        }
        throw C2PAError.malformed("the manifest size did not settle")
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    // MARK: Reading

    /// The manifest store of a PNG or JPEG, if it has one.
    public static func extract(_ data: Data) throws -> [UInt8]? {
        let bytes = [UInt8](data)
        if bytes.starts(with: pngSignature) {
            var i = 8
            while i + 12 <= bytes.count {
                let length = Int(UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
                guard length <= bytes.count - i - 12 else { throw C2PAError.malformed("PNG chunk runs past the end") }
                let type = String(decoding: bytes[i + 4..<i + 8], as: UTF8.self)
                if type == "caBX" { return Array(bytes[i + 8..<i + 8 + length]) }
                if type == "IEND" { break }
                i += 12 + length
            }
            return nil
        }
        if bytes.starts(with: [0xFF, 0xD8]) {
            var i = 2
            var store: [UInt8] = []
            while i + 4 <= bytes.count, bytes[i] == 0xFF {
                let marker = bytes[i + 1]
                if marker == 0xDA || marker == 0xD9 { break }  // start of scan: no more metadata
                let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
                guard length >= 2, i + 2 + length <= bytes.count else { throw C2PAError.malformed("JPEG segment runs past the end") }
                if marker == 0xEB, length >= 10, bytes[i + 4] == 0x4A, bytes[i + 5] == 0x50 {
                    let sequence = UInt32(bytes[i + 8]) << 24 | UInt32(bytes[i + 9]) << 16 | UInt32(bytes[i + 10]) << 8 | UInt32(bytes[i + 11])
                    let payloadStart = i + 12 + (sequence > 1 ? 8 : 0)
                    if payloadStart <= i + 2 + length { store += bytes[payloadStart..<i + 2 + length] }
                }
                i += 2 + length
            }
            return store.isEmpty ? nil : store
        }
        if bytes.count >= 12, Array(bytes[0..<4]) == Array("RIFF".utf8) {
            var i = 12
            while i + 8 <= bytes.count {
                let size = Int(bytes[i + 4]) | Int(bytes[i + 5]) << 8 | Int(bytes[i + 6]) << 16 | Int(bytes[i + 7]) << 24
                guard size <= bytes.count - i - 8 else { throw C2PAError.malformed("RIFF chunk runs past the end") }
                if Array(bytes[i..<i + 4]) == Array("C2PA".utf8) { return Array(bytes[i + 8..<i + 8 + size]) }
                i += 8 + size + (size % 2)
            }
            return nil
        }
        throw C2PAError.unsupportedFormat("not a PNG or JPEG file")
    }
}

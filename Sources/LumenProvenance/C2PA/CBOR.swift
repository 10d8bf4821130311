import Foundation

/// A CBOR data item (RFC 8949), as much of it as C2PA manifests use: integers, byte and text
/// strings, arrays, maps, tags, booleans, null and floats.
///
/// Written by hand because none of the Swift packages available to this project encodes CBOR
/// (swift-certificates speaks DER only). The encoder writes RFC 8949 §4.2.1 deterministic CBOR:
/// shortest argument encodings, definite lengths, map keys sorted by their encoded bytes, as the
/// C2PA specification asks ("shall") for claims and assertions.
public indirect enum CBOR: Sendable, Equatable {
    case unsigned(UInt64)
    /// A negative integer -1 - n is stored as `.negative(n)`.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Entries in insertion order; the encoder sorts them.
    case map([(CBOR, CBOR)])
    case tagged(UInt64, CBOR)
    case bool(Bool)
    case null
    case double(Double)

    public static func int(_ v: Int) -> CBOR { v >= 0 ? .unsigned(UInt64(v)) : .negative(UInt64(-1 - v)) }

    public static func == (a: CBOR, b: CBOR) -> Bool { a.encoded() == b.encoded() }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) {
        switch self {
        case let .unsigned(v): Self.head(0, v, &out)
        case let .negative(v): Self.head(1, v, &out)
        case let .bytes(b): Self.head(2, UInt64(b.count), &out); out += b
        case let .text(s): let u = Array(s.utf8); Self.head(3, UInt64(u.count), &out); out += u
        case let .array(a): Self.head(4, UInt64(a.count), &out); for x in a { x.encode(into: &out) }
        case let .map(entries):
            Self.head(5, UInt64(entries.count), &out)
            let pairs = entries.map { ($0.0.encoded(), $0.1.encoded()) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
            for (k, v) in pairs { out += k; out += v }
        case let .tagged(tag, item): Self.head(6, tag, &out); item.encode(into: &out)
        case let .bool(b): out.append(b ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        case let .double(d):
            out.append(0xFB)
            withUnsafeBytes(of: d.bitPattern.bigEndian) { out += $0 }
        }
    }

    static func head(_ major: UInt8, _ v: UInt64, _ out: inout [UInt8]) {
        let m = major << 5
        switch v {
        case 0..<24: out.append(m | UInt8(v))
        case 24..<0x100: out += [m | 24, UInt8(v)]
        case 0x100..<0x10000: out += [m | 25, UInt8(v >> 8), UInt8(v & 0xFF)]
        case 0x10000..<0x1_0000_0000: out.append(m | 26); for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((v >> UInt64(s)) & 0xFF)) }
        default: out.append(m | 27); for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((v >> UInt64(s)) & 0xFF)) }
        }
    }

    // MARK: Decoding

    /// Decodes one item that must span all of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws -> CBOR {
        var reader = Reader(bytes: bytes)
        let item = try reader.item(depth: 0)
        guard reader.offset == bytes.count else { throw C2PAError.malformed("CBOR has \(bytes.count - reader.offset) trailing bytes") }
        return item
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw C2PAError.malformed("CBOR ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func argument(_ info: UInt8) throws -> UInt64 {
            switch info {
            case 0..<24: return UInt64(info)
            case 24...27:
                var v: UInt64 = 0
                for _ in 0..<(1 << (info - 24)) { v = v << 8 | UInt64(try byte()) }
                return v
            default: throw C2PAError.malformed("CBOR indefinite lengths are not used by C2PA")
            }
        }

        mutating func take(_ n: UInt64) throws -> [UInt8] {
            guard n <= UInt64(bytes.count - offset) else { throw C2PAError.malformed("CBOR string runs past the end") }
            defer { offset += Int(n) }
            return Array(bytes[offset..<offset + Int(n)])
        }

        mutating func item(depth: Int) throws -> CBOR {
            guard depth < 64 else { throw C2PAError.malformed("CBOR nested too deeply") }
            let initial = try byte()
            let major = initial >> 5, info = initial & 0x1F
            switch major {
            case 0: return .unsigned(try argument(info))
            case 1: return .negative(try argument(info))
            case 2: return .bytes(try take(try argument(info)))
            case 3:
                guard let s = String(bytes: try take(try argument(info)), encoding: .utf8) else { throw C2PAError.malformed("CBOR text is not UTF-8") }
                return .text(s)
            case 4:
                let n = try argument(info)
                guard n <= UInt64(bytes.count - offset) else { throw C2PAError.malformed("CBOR array longer than its data") }
                return .array(try (0..<n).map { _ in try item(depth: depth + 1) })
            case 5:
                let n = try argument(info)
                guard n <= UInt64(bytes.count - offset) else { throw C2PAError.malformed("CBOR map longer than its data") }
                return .map(try (0..<n).map { _ in (try item(depth: depth + 1), try item(depth: depth + 1)) })
            case 6: return .tagged(try argument(info), try item(depth: depth + 1))
            default:
                switch info {
                case 20: return .bool(false)
                case 21: return .bool(true)
                case 22, 23: return .null
                case 25:
                    let h = UInt16(try argument(25))
                    return .double(Double(Float16(bitPattern: h)))
                case 26: return .double(Double(Float(bitPattern: UInt32(try argument(26)))))
                case 27: return .double(Double(bitPattern: try argument(27)))
                default: throw C2PAError.malformed("unsupported CBOR simple value \(info)")
                }
            }
        }
    }

    // MARK: Access

    public subscript(key: String) -> CBOR? {
        guard case let .map(entries) = self else { return nil }
        return entries.first { $0.0 == .text(key) }?.1
    }

    public subscript(intKey key: Int) -> CBOR? {
        guard case let .map(entries) = self else { return nil }
        return entries.first { $0.0 == .int(key) }?.1
    }

    public var text: String? { if case let .text(s) = self { s } else { nil } }
    public var bytes: [UInt8]? { if case let .bytes(b) = self { b } else { nil } }
    public var array: [CBOR]? { if case let .array(a) = self { a } else { nil } }
    public var int: Int? {
        switch self {
        case let .unsigned(v): v <= UInt64(Int.max) ? Int(v) : nil
        case let .negative(v): v < UInt64(Int.max) ? -1 - Int(v) : nil
        default: nil
        }
    }
}

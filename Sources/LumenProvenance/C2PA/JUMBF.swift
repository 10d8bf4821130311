import Foundation

/// JUMBF boxes (ISO/IEC 19566-5) as C2PA uses them (C2PA specification §11.1): a box is a
/// big-endian u32 length (header included), a 4-character type, then the payload; a superbox
/// `jumb` holds a description box `jumd` (type UUID, toggles, label) and then its content boxes.
public enum JUMBF {
    /// A parsed box: type and payload; superboxes also carry their label, type UUID and children.
    public struct Box: Sendable {
        public var type: String
        public var payload: [UInt8]
        /// The whole box as it appeared (header included), for hashing.
        public var raw: [UInt8]
        public var label: String?
        public var contentType: String?
        public var children: [Box] = []

        public func child(label: String) -> Box? { children.first { $0.label == label } }
    }

    /// A content type code such as "c2pa" or "cbor" expands to the UUID `XXXX0011-0010-8000-00AA00389B71`.
    static func typeUUID(_ code: String) -> [UInt8] {
        Array(code.utf8) + [0x00, 0x11, 0x00, 0x10, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
    }

    static func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt32(8 + payload.count)
        return withUnsafeBytes(of: length.bigEndian, Array.init) + Array(type.utf8) + payload
    }

    /// A superbox with a requestable, labelled description (toggles 0x03).
    public static func superbox(contentType: String, label: String, contents: [[UInt8]]) -> [UInt8] {
        let description = box("jumd", typeUUID(contentType) + [0x03] + Array(label.utf8) + [0])
        return box("jumb", description + contents.joined())
    }

    /// A `cbor` content box inside its superbox.
    public static func cborBox(label: String, _ item: CBOR) -> [UInt8] {
        superbox(contentType: "cbor", label: label, contents: [box("cbor", item.encoded())])
    }

    /// Parses the boxes in `bytes` (one level; superboxes recursively).
    public static func parse(_ bytes: [UInt8], depth: Int = 0) throws -> [Box] {
        guard depth < 16 else { throw C2PAError.malformed("JUMBF nested too deeply") }
        var boxes: [Box] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 8 else { throw C2PAError.malformed("JUMBF box header runs past the end") }
            let length = Int(UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3]))
            guard length >= 8, length <= bytes.count - i else { throw C2PAError.malformed("JUMBF box length \(length) is impossible") }
            let type = String(decoding: bytes[i + 4..<i + 8], as: UTF8.self)
            let payload = Array(bytes[i + 8..<i + length])
            var b = Box(type: type, payload: payload, raw: Array(bytes[i..<i + length]))
            if type == "jumb" {
                let inner = try parse(payload, depth: depth + 1)
                guard let d = inner.first, d.type == "jumd", d.payload.count >= 17 else {
                    throw C2PAError.malformed("JUMBF superbox without a description box")
                }
                b.contentType = String(decoding: d.payload[0..<4], as: UTF8.self)
                let toggles = d.payload[16]
                if toggles & 0x02 != 0, let end = d.payload[17...].firstIndex(of: 0) {
                    b.label = String(decoding: d.payload[17..<end], as: UTF8.self)
                }
                b.children = Array(inner.dropFirst())
            }
            boxes.append(b)
            i += length
        }
        return boxes
    }
}

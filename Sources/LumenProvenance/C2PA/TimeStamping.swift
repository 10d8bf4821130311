import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftASN1

/// RFC 3161 time-stamps for C2PA signatures (the Code of Practice asks for time-stamped
/// metadata; without one a manifest is judged at verification time and goes invalid when the
/// signing certificate expires).
///
/// As c2pa-rs's `sigtst.rs` does for claim v2 (`sigTst2`, C2PA §10.3.2.5): the time-stamped data is
/// the COSE countersignature structure `["CounterSignature", protected, h'', bstr(signature)]`; the
/// token (the `TimeStampToken` ContentInfo, not the whole response) goes into the unprotected
/// header as `sigTst2: {tstTokens: [{val: token}]}`.
public struct TimeStampAuthority: Sendable, Equatable {
    public var url: URL
    public var timeout: TimeInterval = 15

    public init(url: URL) { self.url = url }

    /// The bytes a `sigTst2` token time-stamps for a signature.
    public static func countersignatureData(protected: [UInt8], signature: [UInt8]) -> [UInt8] {
        CBOR.array([.text("CounterSignature"), .bytes(protected), .bytes([]), .bytes(CBOR.bytes(signature).encoded())]).encoded()
    }

    /// A DER `TimeStampReq` for SHA-256 of `data`, asking for the TSA's certificate.
    public static func request(for data: [UInt8], nonce: UInt64) throws -> [UInt8] {
        let digest = Array(SHA256.hash(data: data))
        var s = DER.Serializer()
        try s.appendConstructedNode(identifier: .sequence) { s in
            try s.serialize(1)
            try s.appendConstructedNode(identifier: .sequence) { s in
                try s.appendConstructedNode(identifier: .sequence) { s in
                    try s.serialize(ASN1ObjectIdentifier("2.16.840.1.101.3.4.2.1"))  // id-sha256
                    try s.serialize(ASN1Null())
                }
                try s.serialize(ASN1OctetString(contentBytes: ArraySlice(digest)))
            }
            try s.serialize(nonce)
            try s.serialize(true)
        }
        return s.serializedBytes
    }

    /// The `TimeStampToken` of a DER `TimeStampResp`, or an error naming the TSA's status.
    public static func token(fromResponse bytes: [UInt8]) throws -> [UInt8] {
        let root = try DER.parse(bytes)
        guard case let .constructed(children) = root.content else { throw C2PAError.malformed("the time-stamp response is not a SEQUENCE") }
        var it = children.makeIterator()
        guard let statusInfo = it.next(), case let .constructed(statusChildren) = statusInfo.content,
              let statusNode = Array(statusChildren).first else {
            throw C2PAError.malformed("the time-stamp response has no status")
        }
        let status = try Int(derEncoded: statusNode)
        guard status == 0 || status == 1 else {
            throw C2PAError.keys("the time-stamp authority refused the request (PKIStatus \(status))")
        }
        guard let token = it.next() else { throw C2PAError.malformed("the time-stamp response carries no token") }
        return Array(token.encodedBytes)
    }

    /// Asks the TSA for a token over `data` (blocking; call off the async executor).
    public func timeStamp(_ data: [UInt8]) throws -> [UInt8] {
        let body = try Self.request(for: data, nonce: UInt64.random(in: (1 << 62)..<(1 << 63)))
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/timestamp-query", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body)
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data: data, status: (response as? HTTPURLResponse)?.statusCode, error: error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = box.get()
        if let error { throw C2PAError.keys("the time-stamp authority \(url) cannot be reached: \(error.localizedDescription)") }
        guard status == 200, let data else {
            throw C2PAError.keys("the time-stamp authority \(url) answered HTTP \(status.map(String.init) ?? "nothing")")
        }
        return try Self.token(fromResponse: [UInt8](data))
    }

    /// The message imprint and time of a token (its signature is not checked here).
    public static func tstInfo(token: [UInt8]) throws -> (imprint: [UInt8], genTime: String) {
        func kids(_ n: ASN1Node) -> [ASN1Node] { if case let .constructed(c) = n.content { Array(c) } else { [] } }
        func bytes(_ n: ASN1Node) -> [UInt8]? { if case let .primitive(b) = n.content { Array(b) } else { nil } }
        let contentInfo = kids(try DER.parse(token))
        guard contentInfo.count >= 2, let signedData = kids(contentInfo[1]).first else { throw C2PAError.malformed("time-stamp token is not a ContentInfo") }
        let sd = kids(signedData)
        guard sd.count >= 3 else { throw C2PAError.malformed("time-stamp SignedData is incomplete") }
        let encap = kids(sd[2])
        guard encap.count >= 2, let octets = kids(encap[1]).first, let tstDER = bytes(octets) else {
            throw C2PAError.malformed("time-stamp token carries no TSTInfo")
        }
        let tst = kids(try DER.parse(tstDER))
        guard tst.count >= 5 else { throw C2PAError.malformed("TSTInfo is incomplete") }
        let imprint = kids(tst[2])
        guard imprint.count == 2, let hashed = bytes(imprint[1]), let time = bytes(tst[4]) else {
            throw C2PAError.malformed("TSTInfo has no message imprint")
        }
        return (hashed, String(decoding: time, as: UTF8.self))
    }

    /// The unprotected COSE header holding a token.
    public static func unprotectedHeader(token: [UInt8]) -> CBOR {
        .map([(.text("sigTst2"), .map([(.text("tstTokens"), .array([.map([(.text("val"), .bytes(token))])]))]))])
    }
}

/// Carries the URLSession callback's result to the waiting thread.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data?, Int?, (any Error)?) = (nil, nil, nil)
    func set(data: Data?, status: Int?, error: (any Error)?) { lock.withLock { value = (data, status, error) } }
    func get() -> (Data?, Int?, (any Error)?) { lock.withLock { value } }
}

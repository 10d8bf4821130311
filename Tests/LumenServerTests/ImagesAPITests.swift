import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LumenImageIO
import LumenServer
import LumenService
import Testing

@Suite("OpenAI Images API")
struct ImagesAPITests {
    @Test("b64_json and url responses, n = 2, with a request id and stable file URLs")
    func generations() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let body = try jsonBody(["prompt": "a red cube", "n": 2, "seed": 7, "style": "photo"])
            let r = try await client.execute(uri: "/v1/images/generations", method: .post, body: body)
            #expect(r.status == .ok)
            #expect(r.headers[HTTPField.Name("x-request-id")!]?.hasPrefix("req_") == true)
            let j = try json(r.body)
            let data = try #require(j["data"] as? [[String: Any]])
            #expect(data.count == 2)
            #expect(data[0]["revised_prompt"] as? String == "a photo of a red cube")
            let b64 = try #require(data[0]["b64_json"] as? String)
            let png = try #require(Data(base64Encoded: b64))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            #expect(j["size"] as? String == "32x32")
            #expect(j["output_format"] as? String == "png")
            let usage = try #require(j["usage"] as? [String: Any])
            #expect((usage["total_tokens"] as? Int ?? 0) > 0)

            // The same seed gives the same picture; url responses point at this server.
            let u = try await client.execute(uri: "/v1/images/generations", method: .post,
                                             body: try jsonBody(["prompt": "a red cube", "n": 2, "seed": 7, "style": "photo", "response_format": "url"]))
            #expect(u.status == .ok)
            let items = try #require(try json(u.body)["data"] as? [[String: Any]])
            let url = try #require(items[0]["url"] as? String)
            #expect(url.hasPrefix("http://"))
            let path = try #require(URL(string: url)?.path)
            #expect(path.hasPrefix("/v1/images/files/img_"))
            let file = try await client.execute(uri: path, method: .get)
            #expect(file.status == .ok)
            #expect(file.headers[.contentType] == "image/png")
            // The marks differ (a fresh XMP instance id) but the pixels are the seed's.
            let a = try PNGPixels(png), b = try PNGPixels(Data(buffer: file.body))
            #expect(a == b)
        }
    }

    @Test("JPEG and WebP output carry the AI-generated XMP")
    func formats() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            for (format, magic) in [("jpeg", [UInt8]([0xFF, 0xD8])), ("webp", Array("RIFF".utf8))] {
                let r = try await client.execute(uri: "/v1/images/generations", method: .post,
                                                 body: try jsonBody(["prompt": "a cone", "output_format": format, "output_compression": 80]))
                #expect(r.status == .ok)
                let items = try #require(try json(r.body)["data"] as? [[String: Any]])
                let b64 = try #require(items[0]["b64_json"] as? String)
                let data = try #require(Data(base64Encoded: b64))
                #expect(data.starts(with: magic))
                #expect(String(decoding: data, as: UTF8.self).contains("trainedAlgorithmicMedia"))
            }
        }
    }

    @Test("Streaming sends partial images, then the completed picture")
    func streaming() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/images/generations", method: .post,
                                             body: try jsonBody(["prompt": "a torus", "stream": true, "partial_images": 2, "steps": 4]))
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/event-stream")
            let events = try sseEvents(r.body)
            #expect(events.map(\.0) == ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"])
            #expect(events.map { $0.1["type"] as? String } == events.map(\.0))
            #expect(events[0].1["partial_image_index"] as? Int == 0)
            #expect(events[1].1["partial_image_index"] as? Int == 1)
            #expect(events[2].1["usage"] != nil)
        }
    }

    @Test("Models: the built-in model first, a broken one listed as unavailable with its reason")
    func models() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/models", method: .get)
            #expect(r.status == .ok)
            let data = try #require(try json(r.body)["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == ["tiny-sd1", "broken-model"])
            #expect(data[0]["available"] as? Bool == true)
            #expect(data[0]["is_default"] as? Bool == true)
            #expect(data[1]["available"] as? Bool == false)
            #expect((data[1]["reason"] as? String ?? "").contains("model_index.json"))
            // Asking for the broken model: 503 naming the reason, in OpenAI's shape.
            let g = try await client.execute(uri: "/v1/images/generations", method: .post,
                                             body: try jsonBody(["prompt": "x", "model": "broken-model"]))
            #expect(g.status == .serviceUnavailable)
            #expect(try errorObject(g)["code"] as? String == "model_unavailable")
            #expect(g.headers[HTTPField.Name("x-should-retry")!] == "false")
        }
    }

    @Test("Hostile input gets a clear 4xx in OpenAI's shape and stores nothing")
    func hostileInput() async throws {
        let (app, state) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let cases: [(ByteBuffer, HTTPResponse.Status, String?, String?)] = [
                (ByteBuffer(string: "{\"prompt\": "), .badRequest, nil, "invalid_json"),
                (ByteBuffer(string: "[1, 2]"), .badRequest, nil, "invalid_json"),
                (try jsonBody(["prompt": "x", "n": 1000]), .badRequest, "n", "integer_out_of_range"),
                (try jsonBody(["prompt": "x", "n": "4"]), .badRequest, "n", nil),
                (try jsonBody(["prompt": "x", "size": "99999x99999"]), .badRequest, "size", "invalid_size"),
                (try jsonBody(["prompt": "x", "size": "big"]), .badRequest, "size", "invalid_size"),
                (try jsonBody(["prompt": "x", "model": "no-such-model"]), .notFound, "model", "model_not_found"),
                (try jsonBody(["prompt": "x", "background": "transparent"]), .badRequest, "background", "unsupported_value"),
                (try jsonBody(["prompt": "x", "guidence": 3]), .badRequest, "guidence", "unknown_parameter"),
                (try jsonBody(["prompt": ""]), .badRequest, "prompt", nil),
                (try jsonBody(["n": 1]), .badRequest, "prompt", "missing_required_parameter"),
                (try jsonBody(["prompt": "x", "stream": 1]), .badRequest, "stream", nil),
                (try jsonBody(["prompt": "x", "steps": 100000]), .badRequest, "steps", "integer_out_of_range"),
                (try jsonBody(["prompt": String(repeating: "a", count: 40_000)]), .badRequest, "prompt", "string_above_max_length"),
                (ByteBuffer(string: "{\"prompt\": \"" + String(repeating: "a", count: 10 << 20) + "\"}"), .contentTooLarge, nil, "request_too_large"),
            ]
            for (body, status, param, code) in cases {
                let r = try await client.execute(uri: "/v1/images/generations", method: .post, body: body)
                #expect(r.status == status, "\(String(buffer: body).prefix(60))")
                let e = try errorObject(r)
                #expect((e["message"] as? String)?.isEmpty == false)
                #expect(e["param"] as? String == param)
                if let code { #expect(e["code"] as? String == code) }
                #expect(r.headers[HTTPField.Name("x-request-id")!] != nil)
            }
            for path in ["/v1/images/files/..%2F..%2Fetc%2Fpasswd", "/v1/images/files/../../lumen.sqlite",
                         "/v1/images/files/img_00000000000000000000000000000000.png", "/v1/lumen/images/%3Cscript%3E", "/v1/nothing"] {
                let r = try await client.execute(uri: path, method: .get)
                #expect(r.status == .notFound, "\(path)")
                _ = try errorObject(r)
            }
        }
        #expect(try await state.store.queuedCount() == 0)
        #expect(try await state.store.searchImages(query: nil, limit: 10, before: nil).isEmpty)
    }

    @Test("A full queue answers 429 with Retry-After")
    func queueFull() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration(maxQueued: 0))
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/images/generations", method: .post, body: try jsonBody(["prompt": "x"]))
            #expect(r.status == .tooManyRequests)
            #expect(Int(r.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try errorObject(r)["type"] as? String == "rate_limit_error")
        }
    }

    @Test("API keys: missing or wrong key 401, right key 200, picture files public")
    func apiKeys() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration(keys: [APIKey(key: "sk-test", name: "alice")]))
        try await app.test(.router) { client in
            let none = try await client.execute(uri: "/v1/models", method: .get)
            #expect(none.status == .unauthorized)
            #expect(try errorObject(none)["code"] as? String == "missing_api_key")
            let wrong = try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sk-test"])
            #expect(right.status == .ok)
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            let file = try await client.execute(uri: "/v1/images/files/img_00000000000000000000000000000000.png", method: .get)
            #expect(file.status == .notFound)
        }
    }
}

/// Decoded RGB pixels of a PNG, for comparing pictures whose metadata differs.
struct PNGPixels: Equatable {
    var pixels: [UInt8]
    init(_ data: Data) throws {
        pixels = try PNGDecoder.decodeRGB(data).pixels
    }
}

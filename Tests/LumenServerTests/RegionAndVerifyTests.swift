import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LumenServer
import LumenService
import Testing

@Suite("Region policy, visible mark and verification")
struct RegionAndVerifyTests {
    @Test("Policy rules: withheld regions and groups, offered lists, unknown regions, default region")
    func policy() throws {
        let p = RegionPolicy(defaultRegion: nil, groups: ["NORDIC": ["NO", "IS", "EU"]], models: [
            "a": .init(offered: nil, withheld: ["EU"], reason: "no review yet"),
            "b": .init(offered: ["US", "NORDIC"], withheld: nil, reason: nil),
        ])
        #expect(p.withholding(model: "a", region: "DE")?.contains("no review yet") == true)
        #expect(p.withholding(model: "a", region: "eu") != nil)
        #expect(p.withholding(model: "a", region: "US") == nil)
        #expect(p.withholding(model: "a", region: nil) == nil)
        #expect(p.withholding(model: "b", region: "US") == nil)
        #expect(p.withholding(model: "b", region: "NO") == nil)
        #expect(p.withholding(model: "b", region: "FR") == nil)  // NORDIC includes the EU group
        #expect(p.withholding(model: "b", region: "JP") != nil)
        #expect(p.withholding(model: "b", region: nil) != nil)
        #expect(p.withholding(model: "unlisted", region: "DE") == nil)
        let withDefault = RegionPolicy(defaultRegion: "DE", groups: [:], models: p.models)
        #expect(withDefault.withholding(model: "a", region: nil) != nil)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).json")
        try Data(#"{"models": {"x": {"reason": "neither list"}}}"#.utf8).write(to: file)
        #expect(throws: RegionPolicyError.self) { try RegionPolicy(path: file.path) }
        try Data("[1]".utf8).write(to: file)
        #expect(throws: RegionPolicyError.self) { try RegionPolicy(path: file.path) }
    }

    @Test("A withheld model answers 451 from its region, works from another, and is greyed in the model list")
    func withheld451() async throws {
        var config = try testConfiguration(keys: [APIKey(key: "sk-eu", name: "eu-team", region: "FR"), APIKey(key: "sk-us", name: "us-team")])
        config.regionPolicy = RegionPolicy(defaultRegion: nil, groups: [:], models: ["tiny-sd1": .init(offered: nil, withheld: ["EU"], reason: "test")])
        config.regionHeader = "X-Region"
        let (app, _) = try LumenServerApp.build(config)
        try await app.test(.router) { client in
            let body = try jsonBody(["prompt": "a cube", "steps": 2])
            let fromDE = try await client.execute(uri: "/v1/images/generations", method: .post,
                                                  headers: [.authorization: "Bearer sk-us", HTTPField.Name("X-Region")!: "DE"], body: body)
            #expect(fromDE.status == .unavailableForLegalReasons)
            let e = try errorObject(fromDE)
            #expect(e["code"] as? String == "model_withheld_in_region")
            #expect((e["message"] as? String)?.contains("region DE") == true)
            // The API key's profile region counts when no header is set.
            let fromKey = try await client.execute(uri: "/v1/images/generations", method: .post, headers: [.authorization: "Bearer sk-eu"], body: body)
            #expect(fromKey.status == .unavailableForLegalReasons)
            let fromUS = try await client.execute(uri: "/v1/images/generations", method: .post,
                                                  headers: [.authorization: "Bearer sk-us", HTTPField.Name("X-Region")!: "US"], body: body)
            #expect(fromUS.status == .ok)
            let models = try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sk-eu"])
            let data = try #require(try json(models.body)["data"] as? [[String: Any]])
            let tiny = try #require(data.first { $0["id"] as? String == "tiny-sd1" })
            #expect(tiny["available"] as? Bool == false)
            #expect(tiny["withheld_in_region"] as? Bool == true)
            #expect((tiny["reason"] as? String)?.contains("region FR") == true)
        }
    }

    @Test("Server pictures carry Content Credentials that POST /v1/verify trusts; tampering is reported")
    func verifyEndpoint() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            for format in ["png", "jpeg"] {
                let r = try await client.execute(uri: "/v1/images/generations", method: .post,
                                                 body: try jsonBody(["prompt": "a cube", "steps": 2, "output_format": format, "visible_mark": true]))
                let items = try #require(try json(r.body)["data"] as? [[String: Any]])
                let b64 = try #require(items[0]["b64_json"] as? String)
                var picture = try #require(Data(base64Encoded: b64))
                let ok = try json(try await client.execute(uri: "/v1/verify", method: .post, headers: [.contentType: "image/\(format)"],
                                                           body: ByteBuffer(data: picture)).body)
                let c2pa = try #require(ok["c2pa"] as? [String: Any])
                #expect(c2pa["state"] as? String == "trusted", "\(format)")
                #expect(c2pa["model"] as? String == "tiny-sd1")
                #expect(ok["ai_generated"] as? Bool == true)
                picture[picture.count - 40] ^= 0xFF
                let bad = try json(try await client.execute(uri: "/v1/verify", method: .post,
                                                            headers: [.contentType: "application/json"],
                                                            body: try jsonBody(["b64_json": picture.base64EncodedString()])).body)
                let badC2PA = try #require(bad["c2pa"] as? [String: Any])
                #expect(badC2PA["state"] as? String == "invalid")
                #expect((badC2PA["failures"] as? [String])?.contains("assertion.dataHash.mismatch") == true)
            }
            let junk = try await client.execute(uri: "/v1/verify", method: .post, body: ByteBuffer(string: "not a picture"))
            #expect(junk.status == .badRequest)
        }
    }
}

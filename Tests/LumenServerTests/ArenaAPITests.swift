import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LumenServer
import Testing

/// A server with two working models (tiny-sd1 built in, tiny-sd2 in the models folder).
func arenaConfiguration() throws -> ServerConfiguration {
    let c = try testConfiguration()
    let sd2 = URL(fileURLWithPath: tinyModel).deletingLastPathComponent().appendingPathComponent("tiny-sd2")
    try FileManager.default.createSymbolicLink(at: URL(fileURLWithPath: c.modelsDirectory!).appendingPathComponent("tiny-sd2"),
                                               withDestinationURL: sd2)
    return c
}

@Suite("Arena API")
struct ArenaAPITests {
    @Test("The automatic board ranks the checker's battles on their own, never mixed with votes")
    func automaticBoard() async throws {
        var config = try arenaConfiguration()
        let log = (config.dataDirectory as NSString).deletingLastPathComponent + "/auto.json"
        var rows: [[String: Any]] = []
        for k in 0..<12 {
            let even = k % 2 == 0
            let winner: String = k < 8 ? (even ? "model_a" : "model_b") : "tie (bothbad)"
            var row: [String: Any] = ["model_a": even ? "lumen-a" : "lumen-b", "model_b": even ? "lumen-b" : "lumen-a", "winner": winner]
            row["judge"] = "lumen-scene-checker"
            row["anony"] = true
            row["tstamp"] = 1_700_000_000 + Double(k)
            row["category"] = k < 6 ? "color" : "count"
            rows.append(row)
        }
        try JSONSerialization.data(withJSONObject: rows).write(to: URL(fileURLWithPath: log))
        // Without the option there is no automatic board; an unknown board is a 400 naming the parameter.
        let (plain, _) = try LumenServerApp.build(config)
        try await plain.test(.router) { client in
            let missing = try await client.execute(uri: "/v1/arena/leaderboard?board=automatic", method: .get)
            #expect(missing.status == .notFound)
            #expect(try errorObject(missing)["code"] as? String == "no_automatic_board")
            let unknown = try await client.execute(uri: "/v1/arena/leaderboard?board=robots", method: .get)
            #expect(unknown.status == .badRequest)
            #expect(try errorObject(unknown)["param"] as? String == "board")
        }
        config.automaticBattlesPath = log
        let (app, _) = try LumenServerApp.build(config)
        try await app.test(.router) { client in
            let auto = try json(try await client.execute(uri: "/v1/arena/leaderboard?board=automatic", method: .get).body)
            #expect(auto["board"] as? String == "automatic")
            #expect(auto["judge"] as? String == "lumen-scene-checker")
            #expect(auto["votes"] as? Int == 12)
            let entries = try #require(auto["entries"] as? [[String: Any]])
            // lumen-a won every decisive battle: first.
            #expect(entries.map { $0["model"] as? String } == ["lumen-a", "lumen-b"])
            let color = try json(try await client.execute(uri: "/v1/arena/leaderboard?board=automatic&category=color", method: .get).body)
            #expect(color["votes"] as? Int == 6)
            // The human board has none of these battles.
            let human = try json(try await client.execute(uri: "/v1/arena/leaderboard", method: .get).body)
            #expect(human["board"] as? String == "human")
            #expect(human["votes"] as? Int == 0)
            #expect(!(String(describing: human["entries"] ?? "")).contains("lumen-a"))
        }
    }

    @Test("Nothing names a model before the vote; one vote per battle; the vote reveals and counts")
    func battleAndVote() async throws {
        let (app, _) = try LumenServerApp.build(try arenaConfiguration())
        try await app.test(.router) { client in
            let created = try await client.execute(uri: "/v1/arena/battles", method: .post, body: try jsonBody(["category": "photo"]))
            #expect(created.status == .created)
            let text = String(buffer: created.body)
            #expect(!text.contains("tiny-sd"), "a response before the vote names a model: \(text)")
            let battle = try json(created.body)
            let id = try #require(battle["id"] as? String)
            #expect(battle["category"] as? String == "photo")
            #expect(battle["revealed"] as? Bool == false)
            // The pictures themselves (metadata, C2PA, file names) name no model either.
            for side in ["left", "right"] {
                let s = try #require(battle[side] as? [String: Any])
                #expect(s["model"] == nil)
                let url = try #require(s["image_url"] as? String)
                #expect(!url.contains("tiny"))
                let picture = try await client.execute(uri: url, method: .get)
                #expect(picture.status == .ok)
                #expect(!String(decoding: Data(buffer: picture.body), as: UTF8.self).contains("tiny-sd"))
            }
            let polled = try await client.execute(uri: "/v1/arena/battles/\(id)", method: .get)
            #expect(!String(buffer: polled.body).contains("tiny-sd"))
            // Arena pictures stay out of the history.
            let history = try json(try await client.execute(uri: "/v1/lumen/images", method: .get).body)
            #expect((history["data"] as? [Any])?.isEmpty == true)
            let bad = try await client.execute(uri: "/v1/arena/battles/\(id)/vote", method: .post, body: try jsonBody(["outcome": "middle"]))
            #expect(bad.status == .badRequest)
            #expect(!String(buffer: bad.body).contains("tiny-sd"))

            let voted = try await client.execute(uri: "/v1/arena/battles/\(id)/vote", method: .post, body: try jsonBody(["outcome": "left"]))
            #expect(voted.status == .ok)
            let result = try json(voted.body)
            #expect(result["anonymous"] as? Bool == true)
            let names = Set([result["left_model"] as? String, result["right_model"] as? String].compactMap { $0 })
            #expect(names == ["tiny-sd1", "tiny-sd2"])
            let again = try await client.execute(uri: "/v1/arena/battles/\(id)/vote", method: .post, body: try jsonBody(["outcome": "right"]))
            #expect(again.status == .conflict)
            #expect(try errorObject(again)["code"] as? String == "already_voted")

            let board = try json(try await client.execute(uri: "/v1/arena/leaderboard", method: .get).body)
            #expect(board["votes"] as? Int == 1)
            let entries = try #require(board["entries"] as? [[String: Any]])
            #expect(entries.count == 2)
            let log = try JSONSerialization.jsonObject(with: Data(buffer: try await client.execute(uri: "/v1/arena/log", method: .get).body))
            let first = try #require((log as? [[String: Any]])?.first)
            #expect(first["winner"] as? String == "model_a")
            #expect(first["model_a"] as? String == result["left_model"] as? String)
            #expect(first["anony"] as? Bool == true)
        }
    }

    @Test("A vote after the names were revealed is stored but not ranked; unknown battles are 404")
    func revealedVotesDoNotCount() async throws {
        let (app, _) = try LumenServerApp.build(try arenaConfiguration())
        try await app.test(.router) { client in
            let created = try json(try await client.execute(uri: "/v1/arena/battles", method: .post,
                                                            body: try jsonBody(["prompt": "a cube on snow"])).body)
            let id = try #require(created["id"] as? String)
            #expect(created["category"] as? String == "custom")
            let revealed = try json(try await client.execute(uri: "/v1/arena/battles/\(id)/reveal", method: .post).body)
            #expect((revealed["left"] as? [String: Any])?["model"] is String)
            let voted = try json(try await client.execute(uri: "/v1/arena/battles/\(id)/vote", method: .post,
                                                          body: try jsonBody(["outcome": "tie"])).body)
            #expect(voted["anonymous"] as? Bool == false)
            let board = try json(try await client.execute(uri: "/v1/arena/leaderboard", method: .get).body)
            #expect(board["votes"] as? Int == 0)
            let missing = try await client.execute(uri: "/v1/arena/battles/battle_\(String(repeating: "0", count: 32))/vote", method: .post,
                                                   body: try jsonBody(["outcome": "tie"]))
            #expect(missing.status == .notFound)
        }
    }

    @Test("With one available model the arena says so (503), naming no model")
    func needsTwoModels() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/v1/arena/battles", method: .post, body: ByteBuffer())
            #expect(r.status == .serviceUnavailable)
            #expect(try errorObject(r)["code"] as? String == "arena_unavailable")
        }
    }
}

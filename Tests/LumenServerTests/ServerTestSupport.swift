import Foundation
import Hummingbird
import HummingbirdTesting
import LumenServer
import LumenService
import Testing

/// The engine tests' tiny random SD1 pipeline (a diffusers folder), fast enough in debug builds.
let tinyModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("LumenEngineTests/Fixtures/tiny-sd1").path

/// A fresh data folder and a models folder holding one broken model.
func testConfiguration(maxQueued: Int = 64, keys: [APIKey] = []) throws -> ServerConfiguration {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("lumen-server-test-\(UUID().uuidString)")
    let models = root.appendingPathComponent("models")
    let broken = models.appendingPathComponent("broken-model")
    try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
    try Data("{ not json".utf8).write(to: broken.appendingPathComponent("model_index.json"))
    var c = ServerConfiguration(dataDirectory: root.appendingPathComponent("data").path)
    c.builtInModel = tinyModel
    c.modelsDirectory = models.path
    c.maxQueuedJobs = maxQueued
    c.apiKeys = keys
    return c
}

func json(_ body: ByteBuffer) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(buffer: body))
    return try #require(object as? [String: Any])
}

func jsonBody(_ object: [String: Any]) throws -> ByteBuffer {
    ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
}

/// The `error` object of an OpenAI-shaped error response.
func errorObject(_ response: TestResponse) throws -> [String: Any] {
    try #require(try json(response.body)["error"] as? [String: Any])
}

/// Server-sent events of a body: (event name, JSON data).
func sseEvents(_ body: ByteBuffer) throws -> [(String, [String: Any])] {
    let text = String(buffer: body)
    return try text.components(separatedBy: "\n\n").compactMap { block -> (String, [String: Any])? in
        var name = "message", data = ""
        for line in block.split(separator: "\n") {
            if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data += line.dropFirst(6) }
        }
        guard !data.isEmpty else { return nil }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
        return (name, object)
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LumenServer
import LumenService
import Testing

func settings(_ prompt: String = "a cube", seed: UInt64 = 1) -> GenerationSettings {
    GenerationSettings(model: "tiny-sd1", prompt: prompt, width: 32, height: 32, steps: 2, guidance: 1, seed: seed)
}

@Suite("Job queue and storage")
struct JobQueueTests {
    func store() throws -> SQLiteJobStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lumen-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return try SQLiteJobStore(path: dir.appendingPathComponent("lumen.sqlite").path)
    }

    @Test("The queue is bounded and reports positions")
    func bounded() async throws {
        let s = try store()
        #expect(try await s.enqueue(JobRecord(user: "a", settings: settings()), maxQueued: 2) == 1)
        let second = JobRecord(user: "a", settings: settings())
        #expect(try await s.enqueue(second, maxQueued: 2) == 2)
        await #expect(throws: StoreError.queueFull(depth: 2)) {
            try await s.enqueue(JobRecord(user: "b", settings: settings()), maxQueued: 2)
        }
        #expect(try await s.position(of: second.id) == 2)
        #expect(try await s.queuedCount() == 2)
    }

    @Test("Round-robin between users: a user with many jobs does not starve the others")
    func fairness() async throws {
        let s = try store()
        var ids: [String: String] = [:]
        for (i, user) in ["alice", "alice", "alice", "bob", "carol", "bob"].enumerated() {
            let job = JobRecord(user: user, settings: settings(seed: UInt64(i)), createdAt: Double(i))
            ids[job.id] = user
            _ = try await s.enqueue(job, maxQueued: 100)
        }
        var served: [String] = []
        while let job = try await s.claimNext() {
            served.append(job.user)
            try await s.complete(jobID: job.id, images: [])
            try await Task.sleep(for: .milliseconds(5))  // distinct start times
        }
        #expect(served == ["alice", "bob", "carol", "alice", "bob", "alice"])
    }

    @Test("A crash leaves running jobs; reopening puts them back in the queue")
    func requeue() async throws {
        let s = try store()
        let job = JobRecord(user: "a", settings: settings())
        _ = try await s.enqueue(job, maxQueued: 10)
        #expect(try await s.claimNext()?.id == job.id)
        #expect(try await s.job(job.id)?.status == .running)
        #expect(try await s.requeueInterrupted() == 1)
        #expect(try await s.job(job.id)?.status == .queued)
        #expect(try await s.claimNext()?.id == job.id)
    }

    @Test("Search matches prompt words, treats % and _ literally, and pages by time")
    func search() async throws {
        let s = try store()
        let job = JobRecord(user: "a", settings: settings())
        _ = try await s.enqueue(job, maxQueued: 10)
        let prompts = ["a red cube at sunset", "100% blue sphere", "a green_cone"]
        let images = prompts.enumerated().map { i, p in
            ImageRecord(id: ImageRecord.newID(), jobID: job.id, index: i, format: .png, width: 32, height: 32, bytes: 10,
                        createdAt: Double(100 + i), prompt: p, model: "tiny-sd1", settings: settings(p), instanceID: "x", watermarkID: nil)
        }
        try await s.complete(jobID: job.id, images: images)
        #expect(try await s.searchImages(query: "red sunset", limit: 10, before: nil).map(\.prompt) == ["a red cube at sunset"])
        #expect(try await s.searchImages(query: "%", limit: 10, before: nil).map(\.prompt) == ["100% blue sphere"])
        #expect(try await s.searchImages(query: "_", limit: 10, before: nil).map(\.prompt) == ["a green_cone"])
        #expect(try await s.searchImages(query: nil, limit: 10, before: nil).count == 3)
        #expect(try await s.searchImages(query: nil, limit: 10, before: 102).map(\.createdAt) == [101, 100])
        #expect(try await s.searchImages(query: "TINY-sd1", limit: 10, before: nil).count == 3)
    }

    @Test("A restarted server finishes jobs that were queued or running when it died")
    func restartResumes() async throws {
        let config = try testConfiguration()
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        do {
            // The "previous run": one job running, one queued, then the process is gone.
            let s = try SQLiteJobStore(path: config.databasePath)
            _ = try await s.enqueue(JobRecord(id: "job_" + String(repeating: "a", count: 32), user: "a", settings: settings()), maxQueued: 10)
            _ = try await s.enqueue(JobRecord(id: "job_" + String(repeating: "b", count: 32), user: "b", settings: settings()), maxQueued: 10)
            _ = try await s.claimNext()
        }
        let (app, state) = try LumenServerApp.build(config)
        try await app.test(.router) { client in
            for id in ["job_" + String(repeating: "a", count: 32), "job_" + String(repeating: "b", count: 32)] {
                var status = ""
                // Up to 2 minutes: the whole suite runs in parallel on two cores (it takes ~3 s alone).
                for _ in 0..<2400 where status != "succeeded" {
                    let r = try await client.execute(uri: "/v1/lumen/jobs/\(id)", method: .get)
                    status = try json(r.body)["status"] as? String ?? ""
                    if status != "succeeded" { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(status == "succeeded")
                let images = try await state.store.images(jobID: id)
                #expect(images.count == 1)
            }
        }
    }

    @Test("Job API: 202, then progress, preview and completed events; history finds the picture; cancel")
    func jobEvents() async throws {
        let (app, _) = try LumenServerApp.build(try testConfiguration())
        try await app.test(.router) { client in
            let accepted = try await client.execute(uri: "/v1/lumen/jobs", method: .post,
                                                    body: try jsonBody(["prompt": "a <b>bold</b> sphere", "steps": 3, "n": 2]))
            #expect(accepted.status == .accepted)
            let id = try #require(try json(accepted.body)["id"] as? String)
            let r = try await client.execute(uri: "/v1/lumen/jobs/\(id)/events", method: .get)
            let events = try sseEvents(r.body)
            let names = events.map(\.0)
            #expect(names.last == "completed")
            #expect(names.contains("progress"))
            let done = try #require(events.last?.1)
            let images = try #require(done["images"] as? [[String: Any]])
            #expect(images.count == 2)
            // A finished job's stream answers at once with its final event.
            let again = try sseEvents(try await client.execute(uri: "/v1/lumen/jobs/\(id)/events", method: .get).body)
            #expect(again.map(\.0) == ["completed"])

            let found = try json(try await client.execute(uri: "/v1/lumen/images?q=bold", method: .get).body)
            let list = try #require(found["data"] as? [[String: Any]])
            #expect(list.count == 2)
            let imageID = try #require(list[0]["id"] as? String)
            let detail = try json(try await client.execute(uri: "/v1/lumen/images/\(imageID)", method: .get).body)
            let s = try #require(detail["settings"] as? [String: Any])
            #expect(s["prompt"] as? String == "a <b>bold</b> sphere")
            #expect(s["steps"] as? Int == 3)

            let missing = try await client.execute(uri: "/v1/lumen/jobs/job_\(String(repeating: "0", count: 32))", method: .delete)
            #expect(missing.status == .notFound)
        }
    }

    @Test("The served OpenAPI document describes every route and method")
    func openAPICoversRoutes() async throws {
        let config = try testConfiguration()
        let (app, state) = try LumenServerApp.build(config)
        let routes = try LumenServerApp.makeRouter(state).routes.map { ($0.path.description, $0.method.rawValue) }
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(r.status == .ok)
            let yaml = String(buffer: r.body)
            #expect(yaml.hasPrefix("openapi: 3.1"))
            for (routePath, method) in routes {
                // ":id" in the router is "{id}" in OpenAPI.
                let path = routePath.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                let openAPIPath = "/" + path.joined(separator: "/")
                let header = "\n  \(openAPIPath):\n"
                let start = try #require(yaml.range(of: header), "\(openAPIPath) is not in openapi.yaml")
                let rest = yaml[start.upperBound...]
                let block = rest.prefix { _ in true }.components(separatedBy: "\n  /").first ?? ""
                #expect(block.contains("    \(method.lowercased()):"), "\(method) \(openAPIPath) is not in openapi.yaml")
            }
        }
    }
}

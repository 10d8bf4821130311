import Foundation
import LumenPipelines
import LumenSchedulers
import LumenTensor
import Testing

/// End-to-end parity: 2-step tiny pipelines from a seed and from injected latents, every sampler,
/// with and without guidance, compared on the decoded picture (before 8-bit rounding).
@Suite struct PipelineParityTests {
    static let e2eCases: [String] = ["sd1", "sd2"].flatMap { kind in
        ["euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm", "pndm"].flatMap { s in [1, 5].map { "e2e-\(kind)-\(s)-g\($0)" } }
    }

    static func decoded(_ pipeline: StableDiffusionPipeline, _ request: GenerationRequest) throws -> Tensor {
        pipeline.decodeLatents(try pipeline.denoise(request)).map { Swift.min(Swift.max($0 / 2 + 0.5, 0), 1) }
    }

    @Test(arguments: e2eCases) func seededGenerationMatchesDiffusers(name: String) throws {
        let meta = try Fixtures.meta(name)
        let kind = name.split(separator: "-")[1]
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)"))
        var r = GenerationRequest(prompt: meta["prompt"] as! String)
        r.negativePrompt = meta["negative_prompt"] as? String ?? ""
        r.steps = meta["steps"] as! Int
        r.guidanceScale = Float(meta["guidance"] as! Double)
        r.seed = UInt64(meta["seed"] as! Int)
        r.width = meta["width"] as? Int
        r.height = meta["height"] as? Int
        r.imageCount = meta["n"] as? Int ?? 1
        r.scheduler = SchedulerKind(rawValue: meta["scheduler"] as! String)
        let expected = try #require(try Fixtures.tensors(name)["image"])
        let err = maxError(try Self.decoded(pipeline, r), expected)
        #expect(err <= 1e-4, "\(name): max abs error \(err)")
    }

    @Test(arguments: ["sd1", "sd2"]) func injectedLatentsMatchDiffusers(kind: String) throws {
        let name = "e2e-\(kind)-latents"
        let meta = try Fixtures.meta(name)
        let t = try Fixtures.tensors(name)
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)"))
        var r = GenerationRequest(prompt: meta["prompt"] as! String)
        r.steps = 2
        r.guidanceScale = Float(meta["guidance"] as! Double)
        r.width = meta["width"] as? Int
        r.height = meta["height"] as? Int
        r.scheduler = .dpmpp2m
        r.initialLatents = t["latents"]
        let err = maxError(try Self.decoded(pipeline, r), t["image"]!)
        #expect(err <= 1e-4, "\(name): max abs error \(err)")
    }

    @Test func progressCallbackCancels() throws {
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-sd1"))
        var r = GenerationRequest(prompt: "a cube")
        r.steps = 5
        var seen = 0
        #expect(throws: PipelineError.cancelled) {
            _ = try pipeline.generate(r) { p in
                if p.stage == .denoising { seen = p.step }
                return p.step < 2
            }
        }
        #expect(seen == 2)
    }

    @Test func rejectsImpossibleSizes() throws {
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-sd1"))
        var r = GenerationRequest(prompt: "x")
        r.width = 30
        #expect(throws: PipelineError.self) { try pipeline.validate(r) }
        r.width = 0
        #expect(throws: PipelineError.self) { try pipeline.validate(r) }
    }
}

import Foundation
import LumenSchedulers
import LumenTensor
import Testing

/// diffusers' analytic scheduler loop: sample = arange, model output = x·t/(t+1), no network.
@Suite struct SchedulerTests {
    nonisolated(unsafe) static let cases: [[String: Any]] = {
        (try? Fixtures.json("schedulers.json") as? [[String: Any]]) ?? []
    }()

    @Test func fixturesPresent() { #expect(Self.cases.count == 46) }

    @Test(arguments: 0..<46) func analyticLoopMatchesDiffusers(index: Int) throws {
        guard index < Self.cases.count else { return }
        let c = Self.cases[index]
        let kind = try #require(SchedulerKind(rawValue: c["scheduler"] as! String))
        let steps = c["steps"] as! Int
        var scheduler = try kind.make(config: SchedulerConfig(values: c["config"] as! [String: Any]), steps: steps)
        let expectedTimesteps = (c["timesteps"] as! [Double]).map { Float($0) }
        #expect(scheduler.timesteps == expectedTimesteps, "case \(index) \(kind): timesteps")
        if let sigmas = c["sigmas"] as? [Double] {
            let ours: [Float]? = (scheduler as? EulerDiscreteScheduler)?.sigmas ?? (scheduler as? EulerAncestralDiscreteScheduler)?.sigmas
                ?? (scheduler as? DPMSolverMultistepScheduler)?.sigmas
            if let ours {
                let err = zip(ours, sigmas).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
                #expect(ours.count == sigmas.count && err <= 1e-6, "case \(index) \(kind): sigmas")
            }
        }
        var random = TorchRandomSource(seed: UInt64(c["seed"] as! Int))
        var sample = Tensor(shape: [2, 3, 4, 4], data: (0..<96).map { Float($0) / 96 - 0.5 }) * scheduler.initNoiseSigma
        for (i, t) in scheduler.timesteps.enumerated() {
            let x = scheduler.scaleModelInput(sample, stepIndex: i)
            let out = x.map { $0 * t / (t + 1) }
            sample = scheduler.step(modelOutput: out, stepIndex: i, sample: sample, random: &random)
        }
        let expected = try #require(try Fixtures.tensors("schedulers")["case\(index)"])
        let err = maxError(sample, expected)
        #expect(err <= 1e-4, "case \(index) \(kind) \(c["config"]!): max error \(err)")
    }

    @Test func rejectsZeroSteps() {
        #expect(throws: SchedulerError.self) { try SchedulerKind.euler.make(config: SchedulerConfig(), steps: 0) }
    }
}

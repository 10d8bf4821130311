import Foundation
import LumenTensor

/// Deterministic DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12
/// with η = 0); port of diffusers `schedulers/scheduling_ddim.py`.
public struct DDIMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let prediction: PredictionType
    let clipSample: Float?
    let stepRatio: Int

    public init(config c: SchedulerConfig, steps: Int) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear")
        let n = schedule.trainTimesteps
        guard steps <= n else { throw SchedulerError.invalid("DDIM cannot take \(steps) steps with \(n) training timesteps") }
        alphasCumprod = schedule.alphasCumprod
        finalAlphaCumprod = try c.bool("set_alpha_to_one", true) ? 1 : alphasCumprod[0]
        prediction = try c.prediction()
        clipSample = try c.bool("clip_sample", true) ? Float(try c.double("clip_sample_range", 1)) : nil
        stepRatio = n / steps
        timesteps = schedule.integerTimesteps(try c.spacing(.leading), steps: steps, offset: try c.int("steps_offset", 0)).map(Float.init)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        let t = Int(timesteps[stepIndex])
        let prevT = t - stepRatio
        let alphaT = alphasCumprod[t]
        let alphaPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        let betaT = 1 - alphaT
        let sa = alphaT.squareRoot(), sb = betaT.squareRoot()
        var x0: Tensor, eps: Tensor
        switch prediction {
        case .epsilon:
            x0 = Combine.map2(sample, modelOutput) { s, e in (s - sb * e) / sa }
            eps = modelOutput
        case .sample:
            x0 = modelOutput
            eps = Combine.map2(sample, x0) { s, p in (s - sa * p) / sb }
        case .vPrediction:
            x0 = Combine.map2(sample, modelOutput) { s, v in sa * s - sb * v }
            eps = Combine.map2(modelOutput, sample) { v, s in sa * v + sb * s }
        }
        if let r = clipSample { x0 = x0.map { Swift.min(Swift.max($0, -r), r) } }
        let direction = (1 - alphaPrev - 0).squareRoot()
        let sp = alphaPrev.squareRoot()
        return Combine.map2(x0, eps) { p, e in sp * p + direction * e }
    }
}

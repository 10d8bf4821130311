import Foundation
import LumenTensor

/// Multistep latent consistency sampling (Luo et al. 2023, "Latent Consistency Models",
/// Algorithm 1); port of diffusers `schedulers/scheduling_lcm.py`. Each step predicts the
/// clean sample with the consistency boundary condition and re-noises it to the next timestep.
public struct LCMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let prediction: PredictionType
    let clipSample: Float?
    let timestepScaling: Float

    public init(config c: SchedulerConfig, steps: Int) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear")
        let n = schedule.trainTimesteps
        alphasCumprod = schedule.alphasCumprod
        finalAlphaCumprod = try c.bool("set_alpha_to_one", true) ? 1 : alphasCumprod[0]
        prediction = try c.prediction()
        clipSample = try c.bool("clip_sample", false) ? Float(try c.double("clip_sample_range", 1)) : nil
        timestepScaling = Float(try c.double("timestep_scaling", 10))
        let original = try c.int("original_inference_steps", 50)
        guard original <= n else { throw SchedulerError.invalid("original_inference_steps \(original) exceeds \(n) training timesteps") }
        guard steps <= original else {
            throw SchedulerError.invalid("LCM cannot take \(steps) steps: the model's schedule has only \(original) (original_inference_steps)")
        }
        let k = n / original
        let origin = Array((1...original).map { $0 * k - 1 }.reversed())
        let skipping = origin.count / steps
        guard skipping >= 1 else { throw SchedulerError.invalid("LCM cannot take \(steps) steps") }
        // np.floor(np.linspace(0, len(origin), num=steps, endpoint=False))
        let stride = Double(origin.count) / Double(steps)
        let picked = (0..<steps).map { Int((Double($0) * stride).rounded(.down)) }
        timesteps = picked.map { Float(origin[$0]) }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex i: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        let t = Int(timesteps[i])
        let prevT = i + 1 < timesteps.count ? Int(timesteps[i + 1]) : t
        let alphaT = alphasCumprod[t]
        let alphaPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        let betaT = 1 - alphaT, betaPrev = 1 - alphaPrev
        // Boundary condition scalings c_skip, c_out with σ_data = 0.5.
        let scaled = Float(t) * timestepScaling
        let cSkip = 0.25 / (scaled * scaled + 0.25)
        let cOut = scaled / (scaled * scaled + 0.25).squareRoot()
        let sa = alphaT.squareRoot(), sb = betaT.squareRoot()
        var x0: Tensor
        switch prediction {
        case .epsilon: x0 = Combine.map2(sample, modelOutput) { s, e in (s - sb * e) / sa }
        case .sample: x0 = modelOutput
        case .vPrediction: x0 = Combine.map2(sample, modelOutput) { s, v in sa * s - sb * v }
        }
        if let r = clipSample { x0 = x0.map { Swift.min(Swift.max($0, -r), r) } }
        let denoised = Combine.map2(x0, sample) { p, s in cOut * p + cSkip * s }
        guard i != timesteps.count - 1 else { return denoised }
        let noise = random.randn(modelOutput.shape)
        let a = alphaPrev.squareRoot(), b = betaPrev.squareRoot()
        return Combine.map2(denoised, noise) { d, n in a * d + b * n }
    }
}

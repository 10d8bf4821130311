import Foundation
import LumenTensor

/// Sigmas and timesteps of the Euler-family schedulers (diffusers `EulerDiscreteScheduler.set_timesteps`).
struct EulerSigmaSchedule {
    var timesteps: [Float]
    var sigmas: [Float]  // steps + 1, last is the final sigma

    init(_ schedule: NoiseSchedule, _ c: SchedulerConfig, steps: Int, spacing: TimestepSpacing, karras: Bool, finalSigmaMin: Bool) throws {
        let n = schedule.trainTimesteps
        let offset = try c.int("steps_offset", 0)
        var ts: [Double]
        switch spacing {
        case .linspace:
            ts = NumPy.linspace(0, Double(n - 1), steps).reversed().map { Double(Float($0)) }
        case .leading:
            let ratio = n / steps
            ts = (0..<steps).reversed().map { Double($0 * ratio + offset) }
        case .trailing:
            let ratio = Double(n) / Double(steps)
            ts = NumPy.arange(Double(n), 0, -ratio).map { NumPy.round($0) - 1 }
        }
        let train = schedule.trainSigmas
        var sig = ts.map { NumPy.interp($0, train) }
        if karras {
            let logSigmas = train.map { Foundation.log($0) }
            let sigmaMin = c.has("sigma_min") ? try c.double("sigma_min", 0) : sig.last!
            let sigmaMax = c.has("sigma_max") ? try c.double("sigma_max", 0) : sig.first!
            sig = NumPy.karras(sigmaMin: sigmaMin, sigmaMax: sigmaMax, steps: steps)
            ts = sig.map { NumPy.sigmaToT($0, logSigmas: logSigmas) }
        }
        let last: Float = finalSigmaMin ? train[0] : 0
        sigmas = sig.map { Float($0) } + [last]
        timesteps = ts.map { Float($0) }
    }
}

/// Euler's method on the probability-flow ODE in σ-parameterisation (Karras et al. 2022, Algorithm 2
/// without churn); port of diffusers `schedulers/scheduling_euler_discrete.py`.
public struct EulerDiscreteScheduler: Scheduler {
    public let timesteps: [Float]
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public let prediction: PredictionType

    public init(config c: SchedulerConfig, steps: Int) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear")
        try c.rejectUnsupported([("interpolation_type", "linear"), ("timestep_type", "discrete"),
                                 ("use_exponential_sigmas", false), ("use_beta_sigmas", false)])
        let spacing = try c.spacing(.linspace)
        let finalType = try c.string("final_sigmas_type", "zero")
        guard ["zero", "sigma_min"].contains(finalType) else { throw SchedulerError.unsupported(field: "final_sigmas_type", value: finalType) }
        let s = try EulerSigmaSchedule(schedule, c, steps: steps, spacing: spacing,
                                        karras: try c.bool("use_karras_sigmas", false), finalSigmaMin: finalType == "sigma_min")
        timesteps = s.timesteps
        sigmas = s.sigmas
        prediction = try c.prediction()
        let maxSigma = sigmas.max()!
        initNoiseSigma = spacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return sample / (sigma * sigma + 1).squareRoot()
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        let sigma = sigmas[stepIndex]
        let x0 = predictOriginal(prediction, sigma: sigma, modelOutput: modelOutput, sample: sample)
        let dt = sigmas[stepIndex + 1] - sigma
        // derivative = (sample − x0) / σ ; prev = sample + derivative · dt
        return Combine.map2(sample, x0) { s, p in s + ((s - p) / sigma) * dt }
    }
}

/// x₀ from the model output in σ-parameterisation (shared by the Euler samplers).
func predictOriginal(_ prediction: PredictionType, sigma: Float, modelOutput: Tensor, sample: Tensor) -> Tensor {
    switch prediction {
    case .epsilon:
        return Combine.map2(sample, modelOutput) { s, e in s - sigma * e }
    case .vPrediction:
        let a = -sigma / (sigma * sigma + 1).squareRoot()
        let d = sigma * sigma + 1
        return Combine.map2(modelOutput, sample) { v, s in v * a + s / d }
    case .sample:
        return modelOutput
    }
}

/// Euler ancestral sampling (k-diffusion `sample_euler_ancestral`): an Euler step down to σ_down
/// plus fresh noise of size σ_up; port of diffusers `scheduling_euler_ancestral_discrete.py`.
public struct EulerAncestralDiscreteScheduler: Scheduler {
    public let timesteps: [Float]
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public let prediction: PredictionType

    public init(config c: SchedulerConfig, steps: Int) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear")
        let spacing = try c.spacing(.linspace)
        let s = try EulerSigmaSchedule(schedule, c, steps: steps, spacing: spacing, karras: false, finalSigmaMin: false)
        timesteps = s.timesteps
        sigmas = s.sigmas
        prediction = try c.prediction()
        let maxSigma = sigmas.max()!
        initNoiseSigma = spacing == .leading ? (maxSigma * maxSigma + 1).squareRoot() : maxSigma
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return sample / (sigma * sigma + 1).squareRoot()
    }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        let sigma = sigmas[stepIndex]
        let x0 = predictOriginal(prediction, sigma: sigma, modelOutput: modelOutput, sample: sample)
        let from = sigma, to = sigmas[stepIndex + 1]
        let sigmaUp = (to * to * (from * from - to * to) / (from * from)).squareRoot()
        let sigmaDown = (to * to - sigmaUp * sigmaUp).squareRoot()
        let dt = sigmaDown - sigma
        var prev = Combine.map2(sample, x0) { s, p in s + ((s - p) / sigma) * dt }
        let noise = random.randn(modelOutput.shape)
        prev = Combine.map2(prev, noise) { p, n in p + n * sigmaUp }
        return prev
    }
}

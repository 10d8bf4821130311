import Foundation
import LumenTensor

/// What a model's output means (`prediction_type` in `scheduler_config.json`).
public enum PredictionType: String, Sendable {
    case epsilon
    case vPrediction = "v_prediction"
    case sample
}

/// How inference timesteps are spread over the training range (`timestep_spacing`),
/// see Table 2 of Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed" (2023).
public enum TimestepSpacing: String, Sendable {
    case linspace, leading, trailing
}

/// The interface every sampler shares, after diffusers' `SchedulerMixin`
/// (`set_timesteps` happens at construction; `step` advances one inference step).
///
/// The pipeline calls, for each index `i` in `timesteps.indices`:
/// `scaleModelInput(sample, stepIndex: i)`, runs the denoiser at `timesteps[i]`, then
/// `step(modelOutput:stepIndex:sample:random:)`. Samplers that add noise draw it from `random`,
/// which continues the stream the initial latents came from, as diffusers' generator does.
public protocol Scheduler: Sendable {
    /// Timesteps handed to the denoiser, in order.
    var timesteps: [Float] { get }
    /// Standard deviation of the initial noise (`init_noise_sigma`).
    var initNoiseSigma: Float { get }
    func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor
    mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor
}

/// The sampler names Lumen accepts on the command line and in the API.
public enum SchedulerKind: String, Sendable, CaseIterable {
    case euler
    case eulerAncestral = "euler-a"
    case dpmpp2m = "dpm++2m"
    case dpmpp2mKarras = "dpm++2m-karras"
    case ddim
    case lcm
    case pndm

    /// The diffusers class that implements it.
    public var diffusersClass: String {
        switch self {
        case .euler: "EulerDiscreteScheduler"
        case .eulerAncestral: "EulerAncestralDiscreteScheduler"
        case .dpmpp2m, .dpmpp2mKarras: "DPMSolverMultistepScheduler"
        case .ddim: "DDIMScheduler"
        case .lcm: "LCMScheduler"
        case .pndm: "PNDMScheduler"
        }
    }

    /// The A1111 sampler name written into PNG `parameters`.
    public var a1111Name: String {
        switch self {
        case .euler: "Euler"
        case .eulerAncestral: "Euler a"
        case .dpmpp2m: "DPM++ 2M"
        case .dpmpp2mKarras: "DPM++ 2M Karras"
        case .ddim: "DDIM"
        case .lcm: "LCM"
        case .pndm: "PLMS"
        }
    }

    /// The sampler diffusers would use for a pipeline whose `scheduler_config.json` names `className`.
    public init?(diffusersClass className: String, karras: Bool) {
        switch className {
        case "EulerDiscreteScheduler": self = .euler
        case "EulerAncestralDiscreteScheduler": self = .eulerAncestral
        case "DPMSolverMultistepScheduler": self = karras ? .dpmpp2mKarras : .dpmpp2m
        case "DDIMScheduler": self = .ddim
        case "LCMScheduler": self = .lcm
        case "PNDMScheduler": self = .pndm
        default: return nil
        }
    }

    /// Builds the sampler with `steps` inference steps from a scheduler config, as
    /// `XScheduler.from_config(config)` followed by `set_timesteps(steps)` does.
    public func make(config: SchedulerConfig, steps: Int) throws -> any Scheduler {
        guard steps >= 1 else { throw SchedulerError.invalid("steps must be at least 1, got \(steps)") }
        switch self {
        case .euler: return try EulerDiscreteScheduler(config: config, steps: steps)
        case .eulerAncestral: return try EulerAncestralDiscreteScheduler(config: config, steps: steps)
        case .dpmpp2m: return try DPMSolverMultistepScheduler(config: config, steps: steps, karras: nil)
        case .dpmpp2mKarras: return try DPMSolverMultistepScheduler(config: config, steps: steps, karras: true)
        case .ddim: return try DDIMScheduler(config: config, steps: steps)
        case .lcm: return try LCMScheduler(config: config, steps: steps)
        case .pndm: return try PNDMScheduler(config: config, steps: steps)
        }
    }
}

/// A scheduler setting that cannot be honoured.
public enum SchedulerError: Error, CustomStringConvertible {
    case invalid(String)
    case unsupported(field: String, value: String)

    public var description: String {
        switch self {
        case let .invalid(s): s
        case let .unsupported(f, v): "scheduler config field '\(f)' = \(v) is not supported by Lumen"
        }
    }
}

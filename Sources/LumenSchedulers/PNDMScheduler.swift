import Foundation
import LumenTensor

/// Pseudo linear multistep sampling (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion
/// Models on Manifolds", PLMS), the default scheduler of Stable Diffusion 1.x folders; port of
/// diffusers `schedulers/scheduling_pndm.py` with `skip_prk_steps=True` (as SD configures it; the sampler
/// name `pndm` always means this).
/// The first step is repeated (a second-order start), so there are steps + 1 model evaluations.
public struct PNDMScheduler: Scheduler {
    public let timesteps: [Float]
    public let initNoiseSigma: Float = 1
    let alphasCumprod: [Float]
    let finalAlphaCumprod: Float
    let prediction: PredictionType
    let stepRatio: Int
    var ets: [Tensor] = []
    var counter = 0
    var currentSample: Tensor?

    public init(config c: SchedulerConfig, steps: Int) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear")
        // Always PLMS without Runge–Kutta warm-up: `PNDMScheduler.from_config(config, skip_prk_steps=True)`,
        // which is how Stable Diffusion configures it; a config asking for PRK steps gets PLMS too.
        let n = schedule.trainTimesteps
        guard steps <= n else { throw SchedulerError.invalid("PNDM cannot take \(steps) steps with \(n) training timesteps") }
        alphasCumprod = schedule.alphasCumprod
        finalAlphaCumprod = try c.bool("set_alpha_to_one", false) ? 1 : alphasCumprod[0]
        prediction = try c.prediction()
        guard prediction != .sample else { throw SchedulerError.unsupported(field: "prediction_type", value: "sample") }
        stepRatio = n / steps
        let ascending = Array(schedule.integerTimesteps(try c.spacing(.leading), steps: steps, offset: try c.int("steps_offset", 0)).reversed())
        // plms_timesteps = concat(t[:-1], t[-2:-1], t[-1:])[::-1]
        var plms = Array(ascending.dropLast())
        if ascending.count >= 2 { plms.append(ascending[ascending.count - 2]) }
        plms.append(ascending.last!)
        timesteps = plms.reversed().map(Float.init)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step(modelOutput: Tensor, stepIndex: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        var t = Int(timesteps[stepIndex])
        var prevT = t - stepRatio
        if counter != 1 {
            if ets.count > 3 { ets.removeFirst(ets.count - 3) }
            ets.append(modelOutput)
        } else {
            prevT = t
            t += stepRatio
        }
        var output = modelOutput
        var x = sample
        switch (ets.count, counter) {
        case (1, 0):
            currentSample = sample
        case (1, 1):
            output = Combine.map2(modelOutput, ets[0]) { a, b in (a + b) / 2 }
            x = currentSample ?? sample
            currentSample = nil
        case (2, _):
            output = Combine.map2(ets[1], ets[0]) { a, b in (3 * a - b) / 2 }
        case (3, _):
            output = Tensor(uninitializedShape: modelOutput.shape) { o in
                for i in 0..<o.count { o[i] = (23 * ets[2].data[i] - 16 * ets[1].data[i] + 5 * ets[0].data[i]) / 12 }
            }
        default:
            output = Tensor(uninitializedShape: modelOutput.shape) { o in
                for i in 0..<o.count {
                    o[i] = (1 / Float(24)) * (55 * ets[3].data[i] - 59 * ets[2].data[i] + 37 * ets[1].data[i] - 9 * ets[0].data[i])
                }
            }
        }
        counter += 1
        return previousSample(x, t, prevT, output)
    }

    /// Formula (9) of the PNDM paper: x_{t−δ} from x_t and ε.
    func previousSample(_ sample: Tensor, _ t: Int, _ prevT: Int, _ output: Tensor) -> Tensor {
        let alphaT = alphasCumprod[t]
        let alphaPrev = prevT >= 0 ? alphasCumprod[prevT] : finalAlphaCumprod
        let betaT = 1 - alphaT, betaPrev = 1 - alphaPrev
        var eps = output
        if prediction == .vPrediction {
            let (a, b) = (alphaT.squareRoot(), betaT.squareRoot())
            eps = Combine.map2(output, sample) { v, s in a * v + b * s }
        }
        let sampleCoeff = (alphaPrev / alphaT).squareRoot()
        let denom = alphaT * betaPrev.squareRoot() + (alphaT * betaT * alphaPrev).squareRoot()
        let diff = alphaPrev - alphaT
        return Combine.map2(sample, eps) { s, e in sampleCoeff * s - diff * e / denom }
    }
}

import Foundation
import LumenTensor

/// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
/// Probabilistic Models", Algorithm 2), optionally on Karras sigmas; port of diffusers
/// `schedulers/scheduling_dpmsolver_multistep.py` for `algorithm_type="dpmsolver++"`,
/// `solver_order` 1 or 2, `solver_type` midpoint or heun.
public struct DPMSolverMultistepScheduler: Scheduler {
    public let timesteps: [Float]
    public let sigmas: [Float]
    public let initNoiseSigma: Float = 1
    let prediction: PredictionType
    let solverOrder: Int
    let heun: Bool
    let lowerOrderFinal: Bool
    let eulerAtFinal: Bool
    let finalSigmaZero: Bool
    var previousOutput: Tensor?
    var lowerOrderCount = 0

    /// `karras` overrides `use_karras_sigmas` from the config (the `dpm++2m-karras` sampler name).
    public init(config c: SchedulerConfig, steps: Int, karras: Bool?) throws {
        let schedule = try NoiseSchedule(c, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear")
        let algorithm = try c.string("algorithm_type", "dpmsolver++")
        guard algorithm == "dpmsolver++" || algorithm == "deis" else {
            throw SchedulerError.unsupported(field: "algorithm_type", value: algorithm)
        }
        try c.rejectUnsupported([("use_lu_lambdas", false), ("use_exponential_sigmas", false), ("use_beta_sigmas", false),
                                 ("use_flow_sigmas", false), ("variance_type", "none")])
        solverOrder = try c.int("solver_order", 2)
        guard solverOrder == 1 || solverOrder == 2 else {
            throw SchedulerError.unsupported(field: "solver_order", value: "\(solverOrder)")
        }
        heun = try c.string("solver_type", "midpoint") == "heun"
        lowerOrderFinal = try c.bool("lower_order_final", true)
        eulerAtFinal = try c.bool("euler_at_final", false)
        let finalType = try c.string("final_sigmas_type", "zero")
        guard ["zero", "sigma_min"].contains(finalType) else { throw SchedulerError.unsupported(field: "final_sigmas_type", value: finalType) }
        finalSigmaZero = finalType == "zero"
        prediction = try c.prediction()

        let n = schedule.trainTimesteps
        let ac = schedule.alphasCumprod
        // last_timestep honours lambda_min_clipped (searchsorted over the flipped λ_t).
        let lambdaMin = try c.double("lambda_min_clipped", -.infinity)
        let lambdas = ac.map { Foundation.log($0.squareRoot()) - Foundation.log((1 - $0).squareRoot()) }
        let clippedIndex = lambdas.reversed().firstIndex { Double($0) >= lambdaMin } ?? lambdas.count
        let lastTimestep = n - clippedIndex
        let offset = try c.int("steps_offset", 0)
        var ts: [Double]
        switch try c.spacing(.linspace) {
        case .linspace:
            ts = Array(NumPy.linspace(0, Double(lastTimestep - 1), steps + 1).map(NumPy.round).reversed().dropLast())
        case .leading:
            let ratio = lastTimestep / (steps + 1)
            ts = Array((0...steps).map { Double($0 * ratio) }.reversed().dropLast()).map { $0 + Double(offset) }
        case .trailing:
            let ratio = Double(n) / Double(steps)
            ts = NumPy.arange(Double(lastTimestep), 0, -ratio).map { NumPy.round($0) - 1 }
        }
        let train = schedule.trainSigmas
        var sig: [Double]
        let useKarras = try karras ?? c.bool("use_karras_sigmas", false)
        if useKarras {
            let logSigmas = train.map { Foundation.log($0) }
            sig = NumPy.karras(sigmaMin: Double(train[0]), sigmaMax: Double(train[n - 1]), steps: steps)
            ts = sig.map { NumPy.round(NumPy.sigmaToT($0, logSigmas: logSigmas)) }
        } else {
            sig = ts.map { NumPy.interp($0, train) }
        }
        let last: Float = finalSigmaZero ? 0 : train[0]
        sigmas = sig.map { Float($0) } + [last]
        timesteps = ts.map { Float(Int64($0)) }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    /// (α_t, σ_t) of the VP process for a σ in the VE parameterisation.
    static func alphaSigma(_ sigma: Float) -> (Float, Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    public mutating func step(modelOutput: Tensor, stepIndex i: Int, sample: Tensor, random: inout TorchRandomSource) -> Tensor {
        let count = timesteps.count
        // The last step is first order (diffusers' lower_order_final / final_sigmas_type "zero").
        let lowerFinal = i == count - 1 && (eulerAtFinal || (lowerOrderFinal && count < 15) || finalSigmaZero)

        // convert_model_output: the data prediction x₀.
        let (alphaS0, sigmaS0) = Self.alphaSigma(sigmas[i])
        let x0: Tensor
        switch prediction {
        case .epsilon: x0 = Combine.map2(sample, modelOutput) { s, e in (s - sigmaS0 * e) / alphaS0 }
        case .vPrediction: x0 = Combine.map2(sample, modelOutput) { s, v in alphaS0 * s - sigmaS0 * v }
        case .sample: x0 = modelOutput
        }

        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[i + 1])
        let lambdaT = Foundation.log(alphaT) - Foundation.log(sigmaT)
        let lambdaS0 = Foundation.log(alphaS0) - Foundation.log(sigmaS0)
        let h = lambdaT - lambdaS0
        let ratio = sigmaT / sigmaS0
        let coefficient = alphaT * (Foundation.exp(-h) - 1)
        let result: Tensor
        if solverOrder == 1 || lowerOrderCount < 1 || lowerFinal || previousOutput == nil {
            result = Combine.map2(sample, x0) { s, m in ratio * s - coefficient * m }
        } else {
            let m1 = previousOutput!
            let (alphaS1, sigmaS1) = Self.alphaSigma(sigmas[i - 1])
            let lambdaS1 = Foundation.log(alphaS1) - Foundation.log(sigmaS1)
            let h0 = lambdaS0 - lambdaS1
            let r0 = h0 / h
            let inv = 1 / r0
            let d1 = Combine.map2(x0, m1) { a, b in inv * (a - b) }
            if heun {
                let c1 = alphaT * ((Foundation.exp(-h) - 1) / h + 1)
                let partial = Combine.map2(sample, x0) { s, d0 in ratio * s - coefficient * d0 }
                result = Combine.map2(partial, d1) { p, d in p + c1 * d }
            } else {
                let partial = Combine.map2(sample, x0) { s, d0 in ratio * s - coefficient * d0 }
                result = Combine.map2(partial, d1) { p, d in p - 0.5 * coefficient * d }
            }
        }
        previousOutput = x0
        if lowerOrderCount < solverOrder { lowerOrderCount += 1 }
        return result
    }
}

import Foundation

/// The training noise schedule shared by all discrete schedulers (betas → ᾱ_t → σ_t),
/// computed with the same fp32/fp64 steps as diffusers so that sigmas match to the last bit
/// that matters: `torch.linspace` in fp32, `torch.cumprod` with a double accumulator.
public struct NoiseSchedule: Sendable {
    public let trainTimesteps: Int
    public let alphasCumprod: [Float]

    public init(_ c: SchedulerConfig, betaStart: Double, betaEnd: Double, betaSchedule: String) throws {
        let n = try c.int("num_train_timesteps", 1000)
        guard n >= 2 else { throw SchedulerError.invalid("num_train_timesteps must be at least 2") }
        trainTimesteps = n
        let start = try c.double("beta_start", betaStart)
        let end = try c.double("beta_end", betaEnd)
        let schedule = try c.string("beta_schedule", betaSchedule)
        try c.rejectUnsupported([("rescale_betas_zero_snr", false), ("thresholding", false)])
        var betas: [Float]
        if let trained = c.values["trained_betas"] as? [Double] {
            betas = trained.map { Float($0) }
        } else {
            switch schedule {
            case "linear":
                betas = Self.torchLinspace(Float(start), Float(end), n)
            case "scaled_linear":
                betas = Self.torchLinspace(Float(start.squareRoot()), Float(end.squareRoot()), n).map { $0 * $0 }
            case "squaredcos_cap_v2":
                // betas_for_alpha_bar with the cosine schedule (Nichol & Dhariwal 2021), max_beta 0.999.
                func alphaBar(_ t: Double) -> Double { pow(cos((t + 0.008) / 1.008 * Double.pi / 2), 2) }
                betas = (0..<n).map { i in
                    let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
                    return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
                }
            default:
                throw SchedulerError.unsupported(field: "beta_schedule", value: schedule)
            }
        }
        var cumulative = 1.0
        alphasCumprod = betas.map { beta in
            cumulative *= Double(1 - beta)
            return Float(cumulative)
        }
    }

    /// Integer inference timesteps in descending order for `timestep_spacing`, as DDIM and PNDM
    /// compute them (`linspace` rounds, `leading` adds `steps_offset`, `trailing` ends at n − 1).
    public func integerTimesteps(_ spacing: TimestepSpacing, steps: Int, offset: Int) -> [Int] {
        let n = trainTimesteps
        switch spacing {
        case .linspace: return NumPy.linspace(0, Double(n - 1), steps).map { Int(NumPy.round($0)) }.reversed()
        case .leading: return (0..<steps).reversed().map { $0 * (n / steps) + offset }
        case .trailing: return NumPy.arange(Double(n), 0, -Double(n) / Double(steps)).map { Int(NumPy.round($0)) - 1 }
        }
    }

    /// `((1 − ᾱ) / ᾱ) ** 0.5` in fp32, indexed by training timestep.
    public var trainSigmas: [Float] { alphasCumprod.map { ((1 - $0) / $0).squareRoot() } }

    /// `torch.linspace(start, end, steps, dtype=torch.float32)` (ATen's two-sided formula).
    static func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        let step = (end - start) / Float(steps - 1)
        let half = steps / 2
        return (0..<steps).map { i in i < half ? start + step * Float(i) : end - step * Float(steps - i - 1) }
    }
}

/// NumPy routines the diffusers schedulers use, in float64 as NumPy computes them.
enum NumPy {
    /// `np.linspace(start, stop, num)`.
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 1 else { return num == 1 ? [start] : [] }
        let step = (stop - start) / Double(num - 1)
        var out = (0..<num).map { start + Double($0) * step }
        out[num - 1] = stop
        return out
    }

    /// `np.arange(start, stop, step)` for a float step.
    static func arange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let count = max(0, Int(((stop - start) / step).rounded(.up)))
        return (0..<count).map { start + Double($0) * step }
    }

    /// `np.round` (half to even).
    static func round(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }

    /// `np.interp(x, arange(len(fp)), fp)`.
    static func interp(_ x: Double, _ fp: [Float]) -> Double {
        if x <= 0 { return Double(fp[0]) }
        let last = fp.count - 1
        if x >= Double(last) { return Double(fp[last]) }
        let j = Int(x.rounded(.down))
        let slope = (Double(fp[j + 1]) - Double(fp[j])) / 1.0
        return slope * (x - Double(j)) + Double(fp[j])
    }

    /// diffusers' `_sigma_to_t`: the fractional training timestep whose log-sigma brackets `sigma`.
    static func sigmaToT(_ sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        var lowIndex = 0
        for (i, ls) in logSigmas.enumerated() where logSigma - Double(ls) >= 0 { lowIndex = i }
        lowIndex = min(lowIndex, logSigmas.count - 2)
        let low = Double(logSigmas[lowIndex]), high = Double(logSigmas[lowIndex + 1])
        var w = (low - logSigma) / (low - high)
        w = min(max(w, 0), 1)
        return (1 - w) * Double(lowIndex) + w * Double(lowIndex + 1)
    }

    /// Karras et al. 2022 (EDM) eq. 5 with ρ = 7: `(σmax^(1/ρ) + ramp·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ`.
    static func karras(sigmaMin: Double, sigmaMax: Double, steps: Int) -> [Double] {
        let rho = 7.0
        let minInv = pow(sigmaMin, 1 / rho), maxInv = pow(sigmaMax, 1 / rho)
        return linspace(0, 1, steps).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
    }
}

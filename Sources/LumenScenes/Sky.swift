import Foundation

typealias V3 = SIMD3<Float>

@inline(__always) func dot(_ a: V3, _ b: V3) -> Float { (a * b).sum() }
@inline(__always) func length(_ a: V3) -> Float { dot(a, a).squareRoot() }
@inline(__always) func normalize(_ a: V3) -> V3 { a / max(length(a), 1e-20) }
@inline(__always) func cross(_ a: V3, _ b: V3) -> V3 {
    V3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
@inline(__always) func reflect(_ d: V3, _ n: V3) -> V3 { d - 2 * dot(d, n) * n }
@inline(__always) func mix(_ a: V3, _ b: V3, _ t: Float) -> V3 { a + (b - a) * t }

/// Sun and sky radiance for one time of day.
///
/// Clear skies use the analytic model of Preetham, Shirley & Smits, "A Practical Analytic Model
/// for Daylight" (SIGGRAPH 1999): Perez distribution functions for luminance Y and chromaticity
/// x, y driven by turbidity and the sun's zenith angle, converted Yxy → XYZ → linear sRGB.
/// Overcast skies follow the CIE overcast luminance `L(θ) = Lz (1 + 2 cos θ) / 3` (sun hidden);
/// night is a dark gradient with stars and a moon. Sunlight is attenuated along the Kasten–Young
/// air mass with a Rayleigh-like λ⁻⁴ spectral slope, which makes low suns warm.
struct Sky {
    let time: TimeOfDay
    let sun: V3
    let turbidity: Float = 2.6
    let zenith: V3  // Y, x, y at the zenith
    let perezY: [Float], perezX: [Float], perezYc: [Float]
    let sunRadiance: V3
    let exposure: Float
    /// Angular radius of the sun (or moon) disk used for soft shadows, in radians.
    let sunAngularRadius: Float = 0.035
    /// The smooth sky (no stars, sun or moon disk) projected on the 9 real spherical harmonics of
    /// order ≤ 2, with Â and the basis constants folded in, for `irradiance(_:)`.
    private var irradianceTerms = [V3](repeating: .zero, count: 9)

    init(time: TimeOfDay, sun: V3) {
        self.time = time
        self.sun = sun
        let t = turbidity
        let thetaS = acos(min(max(sun.y, 0.01), 1))
        let chi = (4.0 / 9.0 - t / 120) * (.pi - 2 * thetaS)
        let yz = (4.0453 * t - 4.9710) * tan(chi) - 0.2155 * t + 2.4192
        let t2 = t * t, s = thetaS, s2 = s * s, s3 = s2 * s
        let xz = t2 * (0.00166 * s3 - 0.00375 * s2 + 0.00209 * s) + t * (-0.02903 * s3 + 0.06377 * s2 - 0.03202 * s + 0.00394)
            + (0.11693 * s3 - 0.21196 * s2 + 0.06052 * s + 0.25886)
        let ycz = t2 * (0.00275 * s3 - 0.00610 * s2 + 0.00317 * s) + t * (-0.04214 * s3 + 0.08970 * s2 - 0.04153 * s + 0.00516)
            + (0.15346 * s3 - 0.26756 * s2 + 0.06670 * s + 0.26688)
        zenith = V3(max(yz, 0.05), xz, ycz)
        perezY = [0.1787 * t - 1.4630, -0.3554 * t + 0.4275, -0.0227 * t + 5.3251, 0.1206 * t - 2.5771, -0.0670 * t + 0.3703]
        perezX = [-0.0193 * t - 0.2592, -0.0665 * t + 0.0008, -0.0004 * t + 0.2125, -0.0641 * t - 0.8989, -0.0033 * t + 0.0452]
        perezYc = [-0.0167 * t - 0.2608, -0.0950 * t + 0.0092, -0.0079 * t + 0.2102, -0.0441 * t - 1.6537, -0.0109 * t + 0.0529]
        // Sunlight through the atmosphere (Kasten & Young 1989 air mass).
        let elevationDeg = max(asin(min(max(sun.y, -1), 1)) * 180 / .pi, 0.5)
        let airMass = 1 / (sin(elevationDeg * .pi / 180) + 0.50572 * pow(elevationDeg + 6.07995, -1.6364))
        let beta = V3(0.025, 0.06, 0.14)  // ∝ λ⁻⁴ for 680, 550, 450 nm, scaled
        let transmittance = V3(exp(-beta.x * airMass), exp(-beta.y * airMass), exp(-beta.z * airMass))
        switch time {
        case .night:
            sunRadiance = V3(0.10, 0.12, 0.17) * 0.6  // moonlight
            exposure = 3.2
        case .overcast:
            sunRadiance = .zero
            exposure = 1.0
        case .sunset:
            sunRadiance = 3.2 * transmittance * V3(1.0, 0.78, 0.55)
            exposure = 1.5
        case .goldenHour:
            sunRadiance = 3.2 * transmittance * V3(1.0, 0.88, 0.72)
            exposure = 1.05
        case .noon:
            sunRadiance = 3.2 * transmittance
            exposure = 0.4
        }
        let harmonics = projectOnHarmonics()
        let a: [Float] = [.pi, 2 * .pi / 3, 2 * .pi / 3, 2 * .pi / 3, .pi / 4, .pi / 4, .pi / 4, .pi / 4, .pi / 4]
        let k: [Float] = [0.282095, 0.488603, 0.488603, 0.488603, 1.092548, 1.092548, 0.315392, 1.092548, 0.546274]
        irradianceTerms = (0..<9).map { harmonics[$0] * (a[$0] * k[$0]) }
    }

    /// The 9 real spherical-harmonic basis functions (l ≤ 2) at unit direction `d`.
    @inline(__always) static func basis(_ d: V3) -> [Float] {
        [0.282095, 0.488603 * d.y, 0.488603 * d.z, 0.488603 * d.x,
         1.092548 * d.x * d.y, 1.092548 * d.y * d.z, 0.315392 * (3 * d.z * d.z - 1),
         1.092548 * d.x * d.z, 0.546274 * (d.x * d.x - d.y * d.y)]
    }

    /// Midpoint quadrature over (cos θ, φ), which is uniform in solid angle: 16 × 32 directions,
    /// about 0.1 ms per scene.
    private func projectOnHarmonics() -> [V3] {
        var c = [V3](repeating: .zero, count: 9)
        let nu = 16, nphi = 32
        let weight = 4 * Float.pi / Float(nu * nphi)
        for i in 0..<nu {
            let y = -1 + (Float(i) + 0.5) * 2 / Float(nu)
            let r = (1 - y * y).squareRoot()
            for j in 0..<nphi {
                let phi = (Float(j) + 0.5) * 2 * .pi / Float(nphi)
                let d = V3(r * cos(phi), y, r * sin(phi))
                let l = radiance(d, smooth: true) * weight
                for (k, b) in Self.basis(d).enumerated() { c[k] += l * b }
            }
        }
        return c
    }

    /// Irradiance from the whole smooth sky on a surface with unit normal `n`, ∫ L(ω) max(n·ω, 0) dω,
    /// from the order-2 spherical-harmonic projection convolved with the clamped cosine
    /// (Ramamoorthi & Hanrahan, "An Efficient Representation for Irradiance Environment Maps",
    /// SIGGRAPH 2001: Â₀ = π, Â₁ = 2π/3, Â₂ = π/4). Diffuse shading uses it in place of one random
    /// sky sample, so open ground is free of sampling noise and stars do not sparkle on the ground
    /// at night. `irradianceTerms` holds the coefficients with Â and the basis constants folded in.
    @inline(__always) func irradiance(_ n: V3) -> V3 {
        let c = irradianceTerms
        var e: V3 = c[0] + c[1] * n.y + c[2] * n.z + c[3] * n.x
        e += c[4] * (n.x * n.y) + c[5] * (n.y * n.z)
        e += c[6] * (3 * n.z * n.z - 1) + c[7] * (n.x * n.z)
        e += c[8] * (n.x * n.x - n.y * n.y)
        return simd_max(e, .zero)
    }

    @inline(__always) func perez(_ c: [Float], _ theta: Float, _ gamma: Float) -> Float {
        (1 + c[0] * exp(c[1] / max(cos(theta), 0.02))) * (1 + c[2] * exp(c[3] * gamma) + c[4] * cos(gamma) * cos(gamma))
    }

    /// Radiance arriving from direction `d` (unit), excluding the sun disk; `smooth` also leaves
    /// out the stars and the moon disk.
    func radiance(_ d: V3, smooth: Bool = false) -> V3 {
        switch time {
        case .overcast:
            let up = max(d.y, 0)
            return V3(0.78, 0.80, 0.84) * (1 + 2 * up) / 3 * 1.3
        case .night:
            let up = max(d.y, 0)
            var c = mix(V3(0.010, 0.014, 0.030), V3(0.002, 0.003, 0.010), pow(up, 0.5))
            // Stars: sparse bright points from a hash of the quantised direction.
            if smooth { return c }
            if d.y > 0.05 {
                let q = SIMD3<Int32>(Int32((d.x * 700).rounded()), Int32((d.y * 700).rounded()), Int32((d.z * 700).rounded()))
                var h = UInt64(bitPattern: Int64(q.x &* 73_856_093 ^ q.y &* 19_349_663 ^ q.z &* 83_492_791))
                h = SceneRandom.mix(h)
                if h % 997 == 0 { c += V3(repeating: 0.6 + Float(h % 100) / 200) }
            }
            if dot(d, sun) > cos(sunAngularRadius * 1.6) { c += V3(0.9, 0.9, 0.85) }  // moon disk
            return c
        default:
            let theta = acos(min(max(d.y, 0.001), 1))
            let gamma = acos(min(max(dot(d, sun), -1), 1))
            let thetaS = acos(min(max(sun.y, 0.01), 1))
            let Y = zenith.x * perez(perezY, theta, gamma) / perez(perezY, 0, thetaS)
            let x = zenith.y * perez(perezX, theta, gamma) / perez(perezX, 0, thetaS)
            let y = zenith.z * perez(perezYc, theta, gamma) / perez(perezYc, 0, thetaS)
            let X = x / y * Y, Z = (1 - x - y) / y * Y
            var rgb = V3(3.2406 * X - 1.5372 * Y - 0.4986 * Z, -0.9689 * X + 1.8758 * Y + 0.0415 * Z, 0.0557 * X - 0.2040 * Y + 1.0570 * Z)
            rgb = simd_max(rgb, .zero) * 0.055
            if d.y < 0 { rgb *= max(0.3, 1 + d.y * 3) }  // below the horizon: the haze darkens
            return rgb
        }
    }

    /// Radiance including the visible sun disk (for rays that escape).
    func background(_ d: V3) -> V3 {
        var c = radiance(d)
        if time != .night && time != .overcast && dot(d, sun) > cos(sunAngularRadius) { c += sunRadiance * 12 }
        return c
    }
}

@inline(__always) func simd_max(_ a: V3, _ b: V3) -> V3 { V3(max(a.x, b.x), max(a.y, b.y), max(a.z, b.z)) }
@inline(__always) func simd_min(_ a: V3, _ b: V3) -> V3 { V3(min(a.x, b.x), min(a.y, b.y), min(a.z, b.z)) }

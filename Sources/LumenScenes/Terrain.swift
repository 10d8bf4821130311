import Foundation

/// Ground, water and distant terrain for a biome: flat ground where objects stand (z < 3.5),
/// rising into fractal (fBm value-noise) heightfield terrain behind — mountains, hills or dunes —
/// with lakes and seas as flat reflective water, plus simple scenery (trees, rocks).
struct Terrain {
    let biome: Biome
    let seed: UInt64
    let amplitude: Float
    let frequency: Float
    let waterStart: Float?  // water covers z ≥ this (and ends at waterEnd)
    let waterEnd: Float
    let maxHeight: Float

    init(biome: Biome, seed: UInt64) {
        self.biome = biome
        self.seed = seed
        switch biome {
        case .mountains: (amplitude, frequency) = (5.5, 0.09)
        case .desert: (amplitude, frequency) = (1.1, 0.22)
        case .snow: (amplitude, frequency) = (2.6, 0.12)
        case .grass, .forest: (amplitude, frequency) = (1.4, 0.1)
        case .lake: (amplitude, frequency) = (3.0, 0.1)
        case .beach: (amplitude, frequency) = (0, 0.1)
        }
        switch biome {
        case .beach: (waterStart, waterEnd) = (3.6, 1e9)
        case .lake: (waterStart, waterEnd) = (3.8, 16)
        default: (waterStart, waterEnd) = (nil, 0)
        }
        maxHeight = amplitude * 1.1 + 0.01
    }

    var groundAlbedo: V3 {
        switch biome {
        case .grass: V3(0.09, 0.22, 0.05)
        case .forest: V3(0.06, 0.15, 0.04)
        case .desert: V3(0.50, 0.37, 0.21)
        case .snow: V3(0.85, 0.87, 0.92)
        case .beach: V3(0.46, 0.39, 0.27)
        case .lake: V3(0.10, 0.22, 0.07)
        case .mountains: V3(0.22, 0.22, 0.18)
        }
    }

    // Value noise on an integer lattice, smoothly interpolated.
    func lattice(_ x: Int32, _ z: Int32) -> Float {
        let h = SceneRandom.mix(seed ^ (UInt64(UInt32(bitPattern: x)) << 32 | UInt64(UInt32(bitPattern: z))))
        return Float(h >> 40) * 0x1p-24
    }

    func noise(_ x: Float, _ z: Float) -> Float {
        let xi = floor(x), zi = floor(z)
        let fx = x - xi, fz = z - zi
        let ux = fx * fx * (3 - 2 * fx), uz = fz * fz * (3 - 2 * fz)
        let (ix, iz) = (Int32(xi), Int32(zi))
        let a = lattice(ix, iz), b = lattice(ix + 1, iz), c = lattice(ix, iz + 1), d = lattice(ix + 1, iz + 1)
        return a + (b - a) * ux + (c - a) * uz + (a - b - c + d) * ux * uz
    }

    func height(_ x: Float, _ z: Float) -> Float {
        guard amplitude > 0 else { return 0 }
        let ramp = min(max((z - 4.5) / 5, 0), 1)
        if ramp == 0 { return 0 }
        let rampSmooth = ramp * ramp * (3 - 2 * ramp)
        var sum: Float = 0, amp: Float = 0.5, f = frequency
        for _ in 0..<4 {
            var n = noise(x * f, z * f)
            if biome == .mountains { n = 1 - abs(2 * n - 1) }  // ridged
            sum += amp * n
            amp *= 0.5
            f *= 2.1
        }
        var h = amplitude * sum * rampSmooth
        if biome == .desert { h += 0.25 * sin(x * 0.9 + z * 0.4) * rampSmooth }
        if let w = waterStart, z > w - 0.5, z < waterEnd { h = min(h, -0.05) }
        return h
    }

    func albedo(_ p: V3) -> V3 {
        let n = noise(p.x * 3.1, p.z * 3.1)
        var a = groundAlbedo * (0.85 + 0.3 * n)
        if biome == .mountains && p.y > 2.8 { a = V3(0.85, 0.87, 0.9) }  // snow caps
        if biome == .lake && p.z < (waterStart ?? 0) && p.z > (waterStart ?? 0) - 0.6 { a = V3(0.45, 0.40, 0.30) }  // shore
        return a
    }

    struct GroundHit { var hit: Hit; var water: Bool; var albedo: V3 }

    /// Intersects the ground plane, the water and (when `march`) the far heightfield.
    func intersect(_ o: V3, _ d: V3, tMax: Float, march: Bool) -> GroundHit? {
        // Flat ground / water first.
        if d.y < -1e-6 {
            let t = -o.y / d.y
            if t > 1e-4 && t < tMax {
                let p = o + t * d
                if let w = waterStart, p.z >= w, p.z < waterEnd {
                    return GroundHit(hit: Hit(t: t, normal: V3(0, 1, 0), id: -3), water: true, albedo: .zero)
                }
                if p.z < 4.5 || amplitude == 0 || !march {
                    return GroundHit(hit: Hit(t: t, normal: V3(0, 1, 0), id: -1), water: false, albedo: albedo(p))
                }
            }
        }
        guard march, amplitude > 0 else { return nil }
        // Heightfield ray marching over the rising far terrain.
        var t: Float = 0
        if o.z < 4.5 {
            guard d.z > 1e-4 else { return nil }
            t = (4.5 - o.z) / d.z
        }
        var prev = t
        for _ in 0..<56 {
            if t > min(tMax, 90) { return nil }
            let p = o + t * d
            if p.y > maxHeight && d.y >= 0 { return nil }
            let h = height(p.x, p.z)
            if p.y < h {
                // Refine between prev and t.
                var lo = prev, hi = t
                for _ in 0..<6 {
                    let mid = (lo + hi) / 2
                    let q = o + mid * d
                    if q.y < height(q.x, q.z) { hi = mid } else { lo = mid }
                }
                let q = o + hi * d
                if let w = waterStart, q.z >= w, q.z < waterEnd, q.y <= 0.01 {
                    return GroundHit(hit: Hit(t: hi, normal: V3(0, 1, 0), id: -3), water: true, albedo: .zero)
                }
                let e: Float = 0.05
                let n = normalize(V3(height(q.x - e, q.z) - height(q.x + e, q.z), 2 * e, height(q.x, q.z - e) - height(q.x, q.z + e)))
                return GroundHit(hit: Hit(t: hi, normal: n, id: -1), water: false, albedo: albedo(q))
            }
            prev = t
            t += max(0.08, 0.45 * (p.y - h)) * (1 + t * 0.02)
        }
        return nil
    }

    /// Trees for forests, rocks for mountains and deserts; placed behind the object area.
    func scenery() -> [Solid] {
        var rng = SceneRandom(seed, 0x5CE4E)
        var out: [Solid] = []
        switch biome {
        case .forest, .grass, .snow, .lake:
            let count = biome == .forest ? 26 : biome == .grass ? 5 : 7
            for _ in 0..<count {
                let x = rng.uniform(-11, 11), z = rng.uniform(6, 15)
                if let w = waterStart, z >= w - 0.5, z < waterEnd { continue }
                let y = height(x, z)
                let s = rng.uniform(0.7, 1.3)
                let leaves = biome == .snow ? V3(0.55, 0.62, 0.58) : V3(0.03, 0.16, 0.04)
                out.append(Solid(kind: .cylinder, id: -2, center: V3(x, y, z), rotation: 0, r: 0.18 * s, albedo: V3(0.20, 0.11, 0.05), material: .rubber, emissive: false))
                out.append(Solid(kind: .cone, id: -2, center: V3(x, y + 0.35 * s, z), rotation: 0, r: 0.75 * s, albedo: leaves, material: .rubber, emissive: false))
            }
        case .mountains, .desert:
            for _ in 0..<5 {
                let x = rng.uniform(-9, 9), z = rng.uniform(5.5, 12)
                out.append(Solid(kind: .sphere, id: -2, center: V3(x, height(x, z) - 0.2, z), rotation: 0, r: rng.uniform(0.25, 0.6),
                                 albedo: biome == .desert ? V3(0.45, 0.32, 0.2) : V3(0.25, 0.24, 0.22), material: .rubber, emissive: false))
            }
        case .beach:
            break
        }
        return out
    }
}

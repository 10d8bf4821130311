import Foundation
import LumenTensor

/// A rendered picture with its per-pixel object ids and depth.
public struct RenderedScene: Sendable {
    public var scene: Scene
    public var width: Int
    public var height: Int
    /// sRGB bytes, row-major RGB.
    public var rgb: [UInt8]
    /// Object id per pixel (−1: no captioned object).
    public var idMask: [Int16]
    /// Distance along the view axis per pixel (world units; +∞ for sky).
    public var depth: [Float]
}

/// A small physically based ray tracer for the scene studio: analytic solids, a ground plane that
/// turns into fractal heightfield terrain in the distance, water with Fresnel reflection, a
/// Preetham sky with a soft sun, one bounce of indirect light, metal, glass with refraction,
/// emissive objects at night, height fog with aerial perspective and ACES filmic tone mapping.
///
/// Noise at a few samples per pixel is kept down where it costs no bias worth seeing: diffuse
/// surfaces take the sky's light from its irradiance (`Sky.irradiance`) whenever their one
/// indirect ray escapes, and indirect samples are clamped to the open sky's value.
struct Renderer {
    let scene: Scene
    let sky: Sky
    let solids: [Solid]
    let emitters: [Solid]
    let camera: (origin: V3, forward: V3, right: V3, up: V3, tanHalf: Float)
    let terrain: Terrain
    let fogDensity: Float
    /// Largest indirect sample (per channel): the open sky's contribution to upward ground.
    let bounceLimit: Float

    init(scene: Scene) {
        self.scene = scene
        sky = Sky(time: scene.timeOfDay, sun: normalize(scene.sunDirection))
        terrain = Terrain(biome: scene.biome, seed: scene.seed ^ UInt64(scene.index))
        var list: [Solid] = scene.objects.map { o in
            let kind: Solid.Kind = switch o.shape {
            case .sphere: .sphere
            case .cube: .box
            case .cylinder: .cylinder
            case .cone: .cone
            case .torus: .torus
            }
            return Solid(kind: kind, id: o.id, center: o.position, rotation: o.rotation, r: o.size.radius,
                         albedo: o.color.albedo, material: o.material, emissive: o.emissive)
        }
        list += terrain.scenery()
        solids = list
        emitters = list.filter(\.emissive)
        let origin = V3(0, 2.6, -7.2)
        let forward = normalize(V3(0, 0.9, 2.0) - origin)
        let right = normalize(cross(V3(0, 1, 0), forward))
        let up = cross(forward, right)
        camera = (origin, forward, right, up, tan(21 * Float.pi / 180))
        let skyUp = sky.irradiance(V3(0, 1, 0)) * 0.5
        bounceLimit = max(max(skyUp.x, skyUp.y, skyUp.z), 0.02)
        fogDensity = scene.timeOfDay == .overcast ? 0.02 : scene.biome == .mountains ? 0.018 : 0.012
    }

    enum Surface { case solid(Solid), ground(V3), water }

    func nearest(_ o: V3, _ d: V3, includeTerrain: Bool = true) -> (Hit, Surface)? {
        var best: (Hit, Surface)?
        var tMax: Float = 200
        for s in solids {
            if let h = s.intersect(o, d, tMax: tMax) { best = (h, .solid(s)); tMax = h.t }
        }
        if let g = terrain.intersect(o, d, tMax: tMax, march: includeTerrain) {
            best = (g.hit, g.water ? .water : .ground(g.albedo))
        }
        return best
    }

    /// Shadow test: every solid, glass included, blocks the sun (no caustics).
    func occluded(_ o: V3, _ d: V3) -> Bool {
        solids.contains { $0.intersect(o, d, tMax: 200) != nil }
    }

    func direct(_ p: V3, _ n: V3, _ rng: inout SceneRandom) -> V3 {
        var light = V3.zero
        if sky.sunRadiance != .zero {
            // A random point on the sun's disk gives soft shadows.
            let a = rng.uniform(0, 2 * .pi), r = sky.sunAngularRadius * rng.float().squareRoot()
            let t1 = normalize(cross(abs(sky.sun.y) < 0.9 ? V3(0, 1, 0) : V3(1, 0, 0), sky.sun))
            let t2 = cross(sky.sun, t1)
            let l = normalize(sky.sun + r * (cos(a) * t1 + sin(a) * t2))
            let c = dot(n, l)
            if c > 0 && !occluded(p + n * 1e-3, l) { light += sky.sunRadiance * c }
        }
        for e in emitters {
            let v = e.boundCenter - p
            let d2 = dot(v, v)
            let c = dot(n, v) / d2.squareRoot()
            if c > 0 { light += e.albedo * 1.6 * c / (d2 + 0.3) }
        }
        return light
    }

    func cosineSample(_ n: V3, _ rng: inout SceneRandom) -> V3 {
        let u = rng.float(), v = rng.float()
        let r = u.squareRoot(), phi = 2 * Float.pi * v
        let t1 = normalize(cross(abs(n.y) < 0.9 ? V3(0, 1, 0) : V3(1, 0, 0), n))
        let t2 = cross(n, t1)
        return normalize(r * cos(phi) * t1 + r * sin(phi) * t2 + (1 - u).squareRoot() * n)
    }

    /// Light reflected by a diffuse surface: direct sun (soft shadow), emitters, and one indirect bounce.
    func diffuse(_ p: V3, _ n: V3, albedo: V3, depth: Int, _ rng: inout SceneRandom) -> V3 {
        var light = direct(p, n, &rng)
        let dir = cosineSample(n, &rng)
        if depth < 2, let (h, surface) = nearest(p + n * 1e-3, dir, includeTerrain: false) {
            let q = p + n * 1e-3 + h.t * dir
            let bounceAlbedo: V3
            switch surface {
            case let .solid(s): bounceAlbedo = s.material == .rubber ? s.albedo : s.albedo * 0.5
            case let .ground(a): bounceAlbedo = a
            case .water: bounceAlbedo = V3(0.02, 0.04, 0.05)
            }
            // The surface hit is lit by the sun and the sky like any diffuse surface (its sky
            // term uses the same 0.5 as open sky below, so occluded and open samples agree).
            let bounce = bounceAlbedo * (direct(q, h.normal, &rng) + sky.irradiance(h.normal) * 0.5)
            // Firefly clamp: a rare sample that lands on a sunlit object would otherwise be many
            // times the open-sky value and show as speckle at a few samples per pixel.
            light += simd_min(bounce, V3(repeating: bounceLimit))
        } else {
            // Open sky: the irradiance of the whole sky (spherical harmonics), not one sample of it.
            light += sky.irradiance(n) * 0.5
        }
        return albedo * light
    }

    func shade(_ o: V3, _ d: V3, depth: Int, _ rng: inout SceneRandom) -> V3 {
        guard depth < 5, let (hit, surface) = nearest(o, d, includeTerrain: depth < 2) else { return sky.background(d) }
        let p = o + hit.t * d
        var n = hit.normal
        var color: V3
        switch surface {
        case .water:
            let cosI = max(-dot(d, n), 0)
            let fresnel = 0.02 + 0.98 * pow(1 - cosI, 5)
            let reflected = depth < 3 ? shade(p + n * 1e-3, reflect(d, n), depth: depth + 1, &rng) : sky.radiance(reflect(d, n))
            color = fresnel * reflected + (1 - fresnel) * V3(0.01, 0.03, 0.04) * (sky.radiance(V3(0, 1, 0)) + sky.sunRadiance * max(sky.sun.y, 0))
        case let .ground(albedo):
            color = diffuse(p, n, albedo: albedo, depth: depth, &rng)
        case let .solid(s):
            switch s.material {
            case .rubber:
                color = diffuse(p, n, albedo: s.albedo, depth: depth, &rng)
            case .metal:
                let cosI = max(-dot(d, n), 0)
                let f = s.albedo + (V3(repeating: 1) - s.albedo) * pow(1 - cosI, 5)
                var r = reflect(d, n)
                r = normalize(r + 0.04 * V3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)))
                if dot(r, n) < 0 { r = reflect(d, n) }
                color = f * shade(p + n * 1e-3, r, depth: depth + 1, &rng) * 0.95
            case .glass:
                // Fresnel (Schlick) between reflection and refraction, n = 1.5.
                var eta: Float = 1 / 1.5
                var cosI = -dot(d, n)
                if cosI < 0 { n = -n; cosI = -cosI; eta = 1.5 }
                let k = 1 - eta * eta * (1 - cosI * cosI)
                let r0: Float = 0.04
                let fresnel = k < 0 ? 1 : r0 + (1 - r0) * pow(1 - cosI, 5)
                let tint = mix(V3(repeating: 1), s.albedo * 1.3, 0.55)
                if depth >= 3 || rng.chance(0.5) {
                    // Stochastic choice keeps the ray count bounded; weights keep the estimate unbiased.
                    if rng.chance(fresnel) {
                        color = shade(p + n * 1e-3, reflect(d, n), depth: depth + 1, &rng)
                    } else {
                        let t = normalize(eta * d + (eta * cosI - k.squareRoot()) * n)
                        color = tint * shade(p - n * 1e-3, t, depth: depth + 1, &rng)
                    }
                } else {
                    let reflected = shade(p + n * 1e-3, reflect(d, n), depth: depth + 1, &rng)
                    var refracted = V3.zero
                    if k >= 0 {
                        let t = normalize(eta * d + (eta * cosI - k.squareRoot()) * n)
                        refracted = tint * shade(p - n * 1e-3, t, depth: depth + 1, &rng)
                    }
                    color = fresnel * reflected + (1 - fresnel) * refracted
                }
            }
            if s.emissive { color += s.albedo * 3.5 + V3(repeating: 0.3) }
        }
        if depth == 0 {
            // Height fog and aerial perspective towards the horizon colour.
            let heightFactor = exp(-max(p.y, 0) * 0.25)
            let amount = 1 - exp(-fogDensity * hit.t * heightFactor)
            let horizon = sky.radiance(normalize(V3(d.x, 0.02, d.z)))
            color = mix(color, horizon, amount)
        }
        return color
    }

    func primaryRay(_ x: Float, _ y: Float, width: Int, height: Int) -> V3 {
        let aspect = Float(width) / Float(height)
        let sx = (2 * x / Float(width) - 1) * camera.tanHalf * aspect
        let sy = (1 - 2 * y / Float(height)) * camera.tanHalf
        return normalize(camera.forward + sx * camera.right + sy * camera.up)
    }

    /// ACES filmic curve (Narkowicz 2015 fit), then the sRGB transfer function.
    static func toneMap(_ c: V3, exposure: Float) -> SIMD3<UInt8> {
        func channel(_ v: Float) -> UInt8 {
            let x = max(v * exposure, 0)
            let mapped = min(max((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0), 1)
            let s = mapped <= 0.0031308 ? 12.92 * mapped : 1.055 * pow(mapped, 1 / 2.4) - 0.055
            return UInt8(min(max((s * 255).rounded(), 0), 255))
        }
        return SIMD3(channel(c.x), channel(c.y), channel(c.z))
    }

    /// Renders `width × height` with `samples²` stratified samples per pixel, all cores, and
    /// per-pixel random streams so the bytes never depend on the thread count.
    func render(width: Int, height: Int, samples: Int, serial: Bool = false) -> (rgb: [UInt8], ids: [Int16], depth: [Float]) {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var ids = [Int16](repeating: -1, count: width * height)
        var depth = [Float](repeating: .infinity, count: width * height)
        rgb.withUnsafeMutableBufferPointer { rp in
            ids.withUnsafeMutableBufferPointer { ip in
                depth.withUnsafeMutableBufferPointer { dp in
                    let rows: (Int, (Int) -> Void) -> Void = serial ? { n, body in for y in 0..<n { body(y) } } : { parallelFor($0, $1) }
                    rows(height) { y in
                        for x in 0..<width {
                            var rng = SceneRandom(scene.seed, UInt64(scene.index), UInt64(y * width + x))
                            var sum = V3.zero
                            for sy in 0..<samples {
                                for sx in 0..<samples {
                                    let px = Float(x) + (Float(sx) + rng.float()) / Float(samples)
                                    let py = Float(y) + (Float(sy) + rng.float()) / Float(samples)
                                    sum += shade(camera.origin, primaryRay(px, py, width: width, height: height), depth: 0, &rng)
                                }
                            }
                            let c = Self.toneMap(sum / Float(samples * samples), exposure: sky.exposure)
                            let k = y * width + x
                            rp[k * 3] = c.x; rp[k * 3 + 1] = c.y; rp[k * 3 + 2] = c.z
                            let center = primaryRay(Float(x) + 0.5, Float(y) + 0.5, width: width, height: height)
                            if let (h, surface) = nearest(camera.origin, center) {
                                if case let .solid(s) = surface, s.id >= 0 { ip[k] = Int16(s.id) }
                                dp[k] = h.t * dot(center, camera.forward)
                            }
                        }
                    }
                }
            }
        }
        return (rgb, ids, depth)
    }

    /// Pixel position of a world point (for relations and tests).
    func project(_ p: V3, width: Int, height: Int) -> (x: Float, y: Float, depth: Float) {
        let v = p - camera.origin
        let z = dot(v, camera.forward)
        let aspect = Float(width) / Float(height)
        let sx = dot(v, camera.right) / z / (camera.tanHalf * aspect)
        let sy = dot(v, camera.up) / z / camera.tanHalf
        return ((sx + 1) / 2 * Float(width), (1 - sy) / 2 * Float(height), z)
    }
}

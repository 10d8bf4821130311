import Foundation

/// A ray hit: distance, outward unit normal, and what was hit (object id ≥ 0, scenery < 0).
struct Hit {
    var t: Float
    var normal: V3
    var id: Int
}

/// A solid in the world, intersected analytically in its own frame (torus by sphere tracing).
struct Solid {
    enum Kind { case sphere, box, cylinder, cone, torus }
    var kind: Kind
    var id: Int
    var center: V3   // footprint centre on the ground
    var cosR: Float, sinR: Float
    var r: Float     // size radius
    var albedo: V3
    var material: Material
    var emissive: Bool
    var boundCenter: V3
    var boundRadius: Float

    init(kind: Kind, id: Int, center: V3, rotation: Float, r: Float, albedo: V3, material: Material, emissive: Bool) {
        self.kind = kind; self.id = id; self.center = center; self.r = r
        cosR = cos(rotation); sinR = sin(rotation)
        self.albedo = albedo; self.material = material; self.emissive = emissive
        let height: Float = kind == .box ? 1.6 * r : kind == .cylinder ? 1.6 * r : kind == .cone ? 1.8 * r : kind == .torus ? 0.56 * r : 2 * r
        boundCenter = center + V3(0, height / 2, 0)
        boundRadius = ((height / 2) * (height / 2) + 1.3 * r * r).squareRoot() * 1.05
    }

    @inline(__always) func toLocal(_ v: V3) -> V3 { V3(cosR * v.x - sinR * v.z, v.y, sinR * v.x + cosR * v.z) }
    @inline(__always) func toWorld(_ v: V3) -> V3 { V3(cosR * v.x + sinR * v.z, v.y, -sinR * v.x + cosR * v.z) }

    func intersect(_ o: V3, _ d: V3, tMax: Float) -> Hit? {
        // Bounding-sphere rejection first.
        let oc = o - boundCenter
        let b = dot(oc, d), c = dot(oc, oc) - boundRadius * boundRadius
        if c > 0 && b > 0 { return nil }
        if b * b - c < 0 { return nil }
        let lo = toLocal(o - center), ld = toLocal(d)
        var result: (Float, V3)?
        switch kind {
        case .sphere: result = Self.sphere(lo - V3(0, r, 0), ld, r)
        case .box: result = Self.box(lo - V3(0, 0.8 * r, 0), ld, V3(repeating: 0.8 * r))
        case .cylinder: result = Self.cylinder(lo, ld, 0.85 * r, 1.6 * r)
        case .cone: result = Self.cone(lo, ld, r, 1.8 * r)
        case .torus: result = Self.torus(lo - V3(0, 0.28 * r, 0), ld, 0.72 * r, 0.28 * r, tMax: tMax)
        }
        guard let (t, n) = result, t > 1e-4, t < tMax else { return nil }
        return Hit(t: t, normal: normalize(toWorld(n)), id: id)
    }

    static func sphere(_ o: V3, _ d: V3, _ r: Float) -> (Float, V3)? {
        let b = dot(o, d), c = dot(o, o) - r * r
        let disc = b * b - c
        guard disc >= 0 else { return nil }
        let s = disc.squareRoot()
        let t = -b - s > 1e-4 ? -b - s : -b + s
        guard t > 1e-4 else { return nil }
        return (t, (o + t * d) / r)
    }

    static func box(_ o: V3, _ d: V3, _ h: V3) -> (Float, V3)? {
        let inv = V3(1 / d.x, 1 / d.y, 1 / d.z)
        let t0 = (-h - o) * inv, t1 = (h - o) * inv
        let tmin = V3(min(t0.x, t1.x), min(t0.y, t1.y), min(t0.z, t1.z))
        let tmax = V3(max(t0.x, t1.x), max(t0.y, t1.y), max(t0.z, t1.z))
        let near = max(tmin.x, tmin.y, tmin.z), far = min(tmax.x, tmax.y, tmax.z)
        guard near <= far, far > 1e-4 else { return nil }
        let t = near > 1e-4 ? near : far
        let p = o + t * d
        // Normal from the dominant axis of the hit point (rounded cube look via a soft blend).
        let q = p / h
        let a = V3(abs(q.x), abs(q.y), abs(q.z))
        var n = V3(0, 0, 0)
        if a.x >= a.y && a.x >= a.z { n.x = q.x > 0 ? 1 : -1 } else if a.y >= a.z { n.y = q.y > 0 ? 1 : -1 } else { n.z = q.z > 0 ? 1 : -1 }
        let rounded = normalize(n + 0.25 * V3(pow(a.x, 8) * (q.x > 0 ? 1 : -1), pow(a.y, 8) * (q.y > 0 ? 1 : -1), pow(a.z, 8) * (q.z > 0 ? 1 : -1)))
        return (t, near > 1e-4 ? rounded : -rounded)
    }

    static func cylinder(_ o: V3, _ d: V3, _ r: Float, _ h: Float) -> (Float, V3)? {
        var best: (Float, V3)?
        let a = d.x * d.x + d.z * d.z
        if a > 1e-9 {
            let b = o.x * d.x + o.z * d.z, c = o.x * o.x + o.z * o.z - r * r
            let disc = b * b - a * c
            if disc >= 0 {
                let s = disc.squareRoot()
                // Roots in increasing order (a > 0); no array, this runs for every ray.
                let t0 = (-b - s) / a, t1 = (-b + s) / a
                for i in 0..<2 {
                    let t = i == 0 ? t0 : t1
                    guard t > 1e-4 else { continue }
                    let y = o.y + t * d.y
                    if y >= 0 && y <= h { best = (t, V3(o.x + t * d.x, 0, o.z + t * d.z) / r); break }
                }
            }
        }
        if abs(d.y) > 1e-9 {
            for i in 0..<2 {
                let capY: Float = i == 0 ? h : 0, ny: Float = i == 0 ? 1 : -1
                let t = (capY - o.y) / d.y
                if t > 1e-4, t < (best?.0 ?? .infinity) {
                    let p = o + t * d
                    if p.x * p.x + p.z * p.z <= r * r { best = (t, V3(0, ny, 0)) }
                }
            }
        }
        return best
    }

    static func cone(_ o: V3, _ d: V3, _ r: Float, _ h: Float) -> (Float, V3)? {
        // x² + z² = (r (h − y) / h)², 0 ≤ y ≤ h
        let k = r / h
        let k2 = k * k
        let yy = h - o.y
        let a = d.x * d.x + d.z * d.z - k2 * d.y * d.y
        let b = o.x * d.x + o.z * d.z + k2 * yy * d.y
        let c = o.x * o.x + o.z * o.z - k2 * yy * yy
        var best: (Float, V3)?
        if abs(a) > 1e-9 {
            let disc = b * b - a * c
            if disc >= 0 {
                let s = disc.squareRoot()
                let u0 = (-b - s) / a, u1 = (-b + s) / a
                for i in 0..<2 {
                    let t = i == 0 ? min(u0, u1) : max(u0, u1)
                    guard t > 1e-4 else { continue }
                    let p = o + t * d
                    if p.y >= 0 && p.y <= h {
                        let radial = V3(p.x, 0, p.z)
                        let rl = max(length(radial), 1e-6)
                        best = (t, normalize(V3(p.x / rl, k, p.z / rl)))
                        break
                    }
                }
            }
        }
        if abs(d.y) > 1e-9 {
            let t = -o.y / d.y
            if t > 1e-4, t < (best?.0 ?? .infinity) {
                let p = o + t * d
                if p.x * p.x + p.z * p.z <= r * r { best = (t, V3(0, -1, 0)) }
            }
        }
        return best
    }

    static func torus(_ o: V3, _ d: V3, _ big: Float, _ small: Float, tMax: Float) -> (Float, V3)? {
        // Sphere tracing of the torus distance field, starting at its bounding sphere.
        let bound = big + small
        let b = dot(o, d), c = dot(o, o) - bound * bound
        let disc = b * b - c
        guard disc >= 0 else { return nil }
        var t = max(-b - disc.squareRoot(), 0)
        let end = min(-b + disc.squareRoot(), tMax)
        func sdf(_ p: V3) -> Float {
            let q = (p.x * p.x + p.z * p.z).squareRoot() - big
            return (q * q + p.y * p.y).squareRoot() - small
        }
        for _ in 0..<64 {
            let p = o + t * d
            let dist = sdf(p)
            if dist < 1e-4 * max(1, t) {
                let e: Float = 1e-3
                let n = V3(sdf(p + V3(e, 0, 0)) - sdf(p - V3(e, 0, 0)), sdf(p + V3(0, e, 0)) - sdf(p - V3(0, e, 0)),
                           sdf(p + V3(0, 0, e)) - sdf(p - V3(0, 0, e)))
                return (max(t, 2e-4), normalize(n))
            }
            t += dist
            if t > end { return nil }
        }
        return nil
    }
}

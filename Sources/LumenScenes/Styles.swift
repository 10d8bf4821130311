import Foundation

/// Post-processing that turns a rendered photo into the named style. Each style uses the id mask
/// and depth for its edges, so outlines follow objects rather than noise.
enum StyleFilter {
    static func apply(_ style: Style, rgb: inout [UInt8], ids: [Int16], depth: [Float], width w: Int, height h: Int, seed: UInt64) {
        switch style {
        case .photo: return
        case .conceptArt: conceptArt(&rgb, ids, depth, w, h)
        case .watercolor: watercolor(&rgb, ids, depth, w, h, seed)
        case .pixelArt: pixelArt(&rgb, w, h)
        case .pencilSketch: pencil(&rgb, ids, depth, w, h, seed)
        }
    }

    /// Whether pixels `k` and `j` show the same surface: same object id and no depth jump.
    @inline(__always) static func sameSurface(_ k: Int, _ j: Int, _ ids: [Int16], _ depth: [Float]) -> Bool {
        let d0 = min(depth[k], 80), d1 = min(depth[j], 80)
        return ids[k] == ids[j] && abs(d0 - d1) <= 0.08 * min(d0, d1) + 0.05
    }

    /// True where the object id changes or depth jumps (silhouettes and creases).
    static func edges(_ ids: [Int16], _ depth: [Float], _ w: Int, _ h: Int) -> [Bool] {
        var e = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let k = y * w + x
                for step in 0..<2 {
                    let dx = 1 - step, dy = step
                    guard x + dx < w && y + dy < h else { continue }
                    let j = (y + dy) * w + x + dx
                    if !sameSurface(k, j, ids, depth) { e[k] = true; e[j] = true }
                }
            }
        }
        return e
    }

    /// Edge-aware smoothing: `passes` rounds of a 3×3 mean over neighbours on the same surface
    /// (same id, no depth jump). Styles that threshold shading (cel bands, hatching) read this
    /// instead of the raw render, so a few samples' noise near a threshold does not turn into
    /// scattered dots while silhouettes stay sharp.
    static func smoothed(_ rgb: [UInt8], _ ids: [Int16], _ depth: [Float], _ w: Int, _ h: Int, passes: Int) -> [Float] {
        var f = rgb.map(Float.init)
        for _ in 0..<passes {
            var out = f
            for y in 0..<h {
                for x in 0..<w {
                    let k = y * w + x
                    var sum = SIMD3<Float>.zero, n: Float = 0
                    for dy in -1...1 {
                        for dx in -1...1 {
                            let yy = y + dy, xx = x + dx
                            guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                            let j = yy * w + xx
                            guard sameSurface(k, j, ids, depth) else { continue }
                            sum += SIMD3(f[j * 3], f[j * 3 + 1], f[j * 3 + 2]); n += 1
                        }
                    }
                    out[k * 3] = sum.x / n; out[k * 3 + 1] = sum.y / n; out[k * 3 + 2] = sum.z / n
                }
            }
            f = out
        }
        return f
    }

    static func luminance(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Float { 0.2126 * Float(r) + 0.7152 * Float(g) + 0.0722 * Float(b) }

    /// Flat cel shading (4 value bands, hue kept) with dark ink outlines.
    static func conceptArt(_ rgb: inout [UInt8], _ ids: [Int16], _ depth: [Float], _ w: Int, _ h: Int) {
        let e = edges(ids, depth, w, h)
        let f = smoothed(rgb, ids, depth, w, h, passes: 2)
        for k in 0..<(w * h) {
            let r = f[k * 3], g = f[k * 3 + 1], b = f[k * 3 + 2]
            let l = max(0.2126 * r + 0.7152 * g + 0.0722 * b, 1)
            let band = (min(l / 255 * 4, 3.999)).rounded(.down) / 3.5 + 0.12
            let scale = band * 255 / l
            let sat: Float = 1.25
            for (i, c) in [r, g, b].enumerated() {
                let v = (l + (c - l) * sat) * scale
                rgb[k * 3 + i] = e[k] ? 20 : UInt8(min(max(v, 0), 255))
            }
        }
    }

    /// Soft pigment: blurred colour pooled towards paper white, granulated paper texture and darker rims.
    static func watercolor(_ rgb: inout [UInt8], _ ids: [Int16], _ depth: [Float], _ w: Int, _ h: Int, _ seed: UInt64) {
        var f = rgb.map(Float.init)
        for _ in 0..<2 {
            var out = f
            for y in 0..<h { for x in 0..<w { for c in 0..<3 {
                var s: Float = 0, n: Float = 0
                for dy in -1...1 { for dx in -1...1 {
                    let yy = min(max(y + dy, 0), h - 1), xx = min(max(x + dx, 0), w - 1)
                    s += f[(yy * w + xx) * 3 + c]; n += 1
                } }
                out[(y * w + x) * 3 + c] = s / n
            } } }
            f = out
        }
        let e = edges(ids, depth, w, h)
        for k in 0..<(w * h) {
            var rng = SceneRandom(seed, UInt64(k), 0xA9)
            let paper = 0.92 + 0.08 * rng.float()
            for c in 0..<3 {
                var v = 255 - (255 - f[k * 3 + c]) * 0.75  // pigment on white paper
                if e[k] { v *= 0.82 }
                rgb[k * 3 + c] = UInt8(min(max(v * paper, 0), 255))
            }
        }
    }

    /// Blocky pixels (block average) with a reduced palette (6 levels per channel).
    static func pixelArt(_ rgb: inout [UInt8], _ w: Int, _ h: Int) {
        let block = max(2, w / 32)
        for by in stride(from: 0, to: h, by: block) {
            for bx in stride(from: 0, to: w, by: block) {
                var sum = SIMD3<Float>.zero, n: Float = 0
                for y in by..<min(by + block, h) { for x in bx..<min(bx + block, w) {
                    let k = (y * w + x) * 3
                    sum += SIMD3(Float(rgb[k]), Float(rgb[k + 1]), Float(rgb[k + 2])); n += 1
                } }
                let q = (sum / n / 51).rounded(.toNearestOrEven) * 51
                for y in by..<min(by + block, h) { for x in bx..<min(bx + block, w) {
                    let k = (y * w + x) * 3
                    rgb[k] = UInt8(min(q.x, 255)); rgb[k + 1] = UInt8(min(q.y, 255)); rgb[k + 2] = UInt8(min(q.z, 255))
                } }
            }
        }
    }

    /// Graphite on paper: outlines plus diagonal hatching whose density follows the shading.
    static func pencil(_ rgb: inout [UInt8], _ ids: [Int16], _ depth: [Float], _ w: Int, _ h: Int, _ seed: UInt64) {
        let e = edges(ids, depth, w, h)
        let f = smoothed(rgb, ids, depth, w, h, passes: 1)
        for y in 0..<h {
            for x in 0..<w {
                let k = y * w + x
                let l = (0.2126 * f[k * 3] + 0.7152 * f[k * 3 + 1] + 0.0722 * f[k * 3 + 2]) / 255
                var v: Float = 245
                let period = max(3, w / 40)
                if l < 0.55 && (x + y) % period == 0 { v = 150 }
                if l < 0.3 && (x - y + 1000 * period) % period == 0 { v = 110 }
                if l < 0.12 { v = min(v, 120) }
                if e[k] { v = 60 }
                var rng = SceneRandom(seed, UInt64(k), 0x9E)
                v = min(max(v + rng.uniform(-6, 6), 0), 255)
                rgb[k * 3] = UInt8(v); rgb[k * 3 + 1] = UInt8(v); rgb[k * 3 + 2] = UInt8(max(v - 4, 0))
            }
        }
    }
}

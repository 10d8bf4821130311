import Foundation
import LumenTensor

/// Renders captioned scenes: draws a scene, checks every object is visible, ray traces it,
/// applies the style, measures objects in the id mask, derives relations and captions.
public enum SceneStudio {
    /// Minimum share of the picture each object must cover (and at least 6 pixels).
    public static let minimumCoverage = 0.002

    /// One picture of `size × size`. `supersample` renders larger and box-downsamples (for tiny
    /// training pictures); `samples` is the per-pixel sample grid (samples² rays).
    public static func render(seed: UInt64, index: Int, split: SceneSplit, size: Int, samples: Int = 2, supersample: Int = 1,
                              constraints: SceneConstraints = .none) -> RenderedScene {
        let full = size * supersample
        var attempt = 0
        while true {
            var scene = SceneSampler.sample(seed: seed, index: index, split: split, attempt: attempt, constraints: constraints)
            let renderer = Renderer(scene: scene)
            if attempt < 40 && !visible(renderer, scene, size: size) {
                attempt += 1
                continue
            }
            var (rgb, ids, depth) = renderer.render(width: full, height: full, samples: samples)
            if supersample > 1 { (rgb, ids, depth) = downsample(rgb, ids, depth, full, supersample) }
            StyleFilter.apply(scene.style, rgb: &rgb, ids: ids, depth: depth, width: size, height: size, seed: seed ^ UInt64(index))
            measure(&scene, ids: ids, size: size)
            scene.relations = relations(scene, renderer: renderer, size: size)
            var rng = SceneRandom(seed, UInt64(index), 0xCA9)
            scene.captions = CaptionGrammar.captions(scene, &rng)
            return RenderedScene(scene: scene, width: size, height: size, rgb: rgb, idMask: ids, depth: depth)
        }
    }

    /// Primary-ray id pass: is every object covering enough pixels?
    static func visible(_ renderer: Renderer, _ scene: Scene, size: Int) -> Bool {
        var counts = [Int](repeating: 0, count: scene.objects.count)
        for y in 0..<size {
            for x in 0..<size {
                let d = renderer.primaryRay(Float(x) + 0.5, Float(y) + 0.5, width: size, height: size)
                if let (_, surface) = renderer.nearest(renderer.camera.origin, d, includeTerrain: false),
                   case let .solid(s) = surface, s.id >= 0 {
                    counts[s.id] += 1
                }
            }
        }
        let need = max(6, Int(minimumCoverage * Double(size * size)))
        return counts.allSatisfy { $0 >= need }
    }

    static func downsample(_ rgb: [UInt8], _ ids: [Int16], _ depth: [Float], _ full: Int, _ f: Int) -> ([UInt8], [Int16], [Float]) {
        let size = full / f
        var r = [UInt8](repeating: 0, count: size * size * 3)
        var i = [Int16](repeating: -1, count: size * size)
        var d = [Float](repeating: .infinity, count: size * size)
        for y in 0..<size {
            for x in 0..<size {
                var sum = SIMD3<Int>(0, 0, 0)
                var votes: [Int16: Int] = [:]
                var nearest = Float.infinity
                for dy in 0..<f {
                    for dx in 0..<f {
                        let k = (y * f + dy) * full + x * f + dx
                        sum &+= SIMD3(Int(rgb[k * 3]), Int(rgb[k * 3 + 1]), Int(rgb[k * 3 + 2]))
                        votes[ids[k], default: 0] += 1
                        nearest = min(nearest, depth[k])
                    }
                }
                let n = f * f
                let k = y * size + x
                r[k * 3] = UInt8((sum.x + n / 2) / n); r[k * 3 + 1] = UInt8((sum.y + n / 2) / n); r[k * 3 + 2] = UInt8((sum.z + n / 2) / n)
                i[k] = votes.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
                d[k] = nearest
            }
        }
        return (r, i, d)
    }

    static func measure(_ scene: inout Scene, ids: [Int16], size: Int) {
        for o in scene.objects.indices {
            var count = 0, x0 = size, y0 = size, x1 = -1, y1 = -1
            var sx = 0.0, sy = 0.0
            for y in 0..<size {
                for x in 0..<size where ids[y * size + x] == Int16(scene.objects[o].id) {
                    count += 1
                    x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
                    sx += Double(x) + 0.5; sy += Double(y) + 0.5
                }
            }
            scene.objects[o].pixelCount = count
            scene.objects[o].pixelBox = count > 0 ? [x0, y0, x1 + 1, y1 + 1] : []
            scene.objects[o].pixelCenter = count > 0 ? [sx / Double(count), sy / Double(count)] : []
        }
    }

    /// Relations from rendered positions: left/right from the objects' pixel centroids, in front/behind
    /// from camera depth; pairs too close to call are left out, so every stated relation is clear.
    static func relations(_ scene: Scene, renderer: Renderer, size: Int) -> [Relation] {
        var out: [Relation] = []
        let objects = scene.objects.filter { $0.pixelCount > 0 }
        for a in objects {
            for b in objects where a.id != b.id {
                let dx = a.pixelCenter[0] - b.pixelCenter[0]
                if abs(dx) >= max(2, 0.04 * Double(size)) {
                    out.append(Relation(subject: a.id, relation: dx < 0 ? "left of" : "right of", object: b.id))
                }
                let da = renderer.project(a.position, width: size, height: size).depth
                let db = renderer.project(b.position, width: size, height: size).depth
                if abs(da - db) >= 0.3 {
                    out.append(Relation(subject: a.id, relation: da < db ? "in front of" : "behind", object: b.id))
                }
            }
        }
        return out
    }
}

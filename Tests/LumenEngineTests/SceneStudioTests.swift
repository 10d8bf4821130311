import Foundation
@testable import LumenScenes
import Testing

/// The scene studio: determinism, captions true to the picture, held-out split, physical sanity.
@Suite struct SceneStudioTests {
    @Test func sameSeedSameBytes() {
        let a = SceneStudio.render(seed: 7, index: 3, split: .train, size: 48, samples: 1)
        let b = SceneStudio.render(seed: 7, index: 3, split: .train, size: 48, samples: 1)
        #expect(a.rgb == b.rgb)
        #expect(a.idMask == b.idMask)
        #expect(a.scene.captions == b.scene.captions)
        let c = SceneStudio.render(seed: 7, index: 4, split: .train, size: 48, samples: 1)
        #expect(a.rgb != c.rgb)
    }

    @Test func bytesDoNotDependOnThreadCount() {
        for index in 0..<3 {
            let scene = SceneSampler.sample(seed: 21, index: index, split: .train)
            let renderer = Renderer(scene: scene)
            let parallel = renderer.render(width: 40, height: 40, samples: 2)
            let serial = renderer.render(width: 40, height: 40, samples: 2, serial: true)
            #expect(parallel.rgb == serial.rgb)
            #expect(parallel.ids == serial.ids)
        }
    }

    @Test(arguments: 0..<12) func captionsAreTrueToThePicture(index: Int) {
        let r = SceneStudio.render(seed: 11, index: index, split: .train, size: 64, samples: 1)
        let scene = r.scene
        #expect(!scene.captions.isEmpty)
        let need = max(6, Int(SceneStudio.minimumCoverage * 64 * 64))
        for o in scene.objects {
            // Every named object is visible in the id mask.
            #expect(o.pixelCount >= need, "object \(o.id) covers \(o.pixelCount) px")
            #expect(r.idMask.filter { $0 == Int16(o.id) }.count == o.pixelCount)
            // Attributes come before the noun in the first caption.
            let phrase = "\(o.size.rawValue) \(o.emissive ? "glowing " : "")\(o.color.rawValue)"
            #expect(scene.captions[0].contains(phrase), "\(scene.captions[0]) lacks '\(phrase)'")
        }
        // Counts are exact.
        let numbers = ["zero", "one", "two", "three", "four", "five"]
        let count = scene.objects.count == 1 ? "one object" : "\(numbers[scene.objects.count]) objects"
        #expect(scene.captions[1].contains(count))
        // Relations agree with pixel positions.
        for rel in scene.relations where rel.relation == "left of" || rel.relation == "right of" {
            let a = scene.objects.first { $0.id == rel.subject }!, b = scene.objects.first { $0.id == rel.object }!
            #expect((a.pixelCenter[0] < b.pixelCenter[0]) == (rel.relation == "left of"))
        }
        // No colour is named that no object has.
        let setting = scene.biome.phrases + scene.timeOfDay.phrases
        let objectParts = scene.captions.map { caption in setting.reduce(caption) { $0.replacingOccurrences(of: $1, with: "") } }
        for c in NamedColor.allCases where !scene.objects.contains(where: { $0.color == c }) {
            #expect(!objectParts.contains { $0.split(separator: " ").contains(Substring(c.rawValue)) }, "\(c) named but absent")
        }
    }

    @Test func heldOutCombinationsNeverInTraining() {
        for i in 0..<150 {
            let s = SceneSampler.sample(seed: 5, index: i, split: .train)
            #expect(!s.objects.contains { HeldOut.isHeldOut($0, biome: s.biome) })
            let h = SceneSampler.sample(seed: 5, index: i, split: .heldout)
            #expect(h.objects.contains { HeldOut.isHeldOut($0, biome: h.biome) })
        }
    }

    static func scene(time: TimeOfDay, objects: [SceneObject], biome: Biome = .grass, sun: SIMD3<Float>? = nil) -> Scene {
        let e = time.elevation * .pi / 180
        return Scene(seed: 1, index: 0, objects: objects, biome: biome, timeOfDay: time, style: .photo,
                     sunDirection: sun ?? SIMD3(cos(e) * 0.5, sin(e), cos(e) * 0.866))
    }

    static func object(_ shape: Shape, _ material: Material, at x: Float, _ z: Float, color: NamedColor = .gray) -> SceneObject {
        SceneObject(id: 0, shape: shape, color: color, material: material, size: .large, position: [x, 0, z], rotation: 0, emissive: false)
    }

    static func luminance(_ r: RenderedScene, _ x: Int, _ y: Int) -> Double {
        let k = (y * r.width + x) * 3
        return 0.2126 * Double(r.rgb[k]) + 0.7152 * Double(r.rgb[k + 1]) + 0.0722 * Double(r.rgb[k + 2])
    }

    func render(_ scene: Scene, size: Int = 64) -> RenderedScene {
        let renderer = Renderer(scene: scene)
        let (rgb, ids, depth) = renderer.render(width: size, height: size, samples: 2)
        return RenderedScene(scene: scene, width: size, height: size, rgb: rgb, idMask: ids, depth: depth)
    }

    @Test func shadowFallsAwayFromTheSun() {
        // Sun low from the right (+x): the cube's shadow falls to its left on the ground.
        let sun = normalize(SIMD3<Float>(1, 0.35, 0.15))
        let scene = Self.scene(time: .goldenHour, objects: [Self.object(.cube, .rubber, at: 0, 0)], sun: sun)
        let r = render(scene)
        let renderer = Renderer(scene: scene)
        let shadowSide = renderer.project([-1.3, 0, 0], width: 64, height: 64)
        let litSide = renderer.project([1.3, 0, 0], width: 64, height: 64)
        let dark = Self.luminance(r, Int(shadowSide.x), Int(shadowSide.y))
        let bright = Self.luminance(r, Int(litSide.x), Int(litSide.y))
        #expect(dark < bright * 0.8, "shadow \(dark) vs lit ground \(bright)")
    }

    @Test func mirrorSphereShowsTheSky() {
        let scene = Self.scene(time: .noon, objects: [Self.object(.sphere, .metal, at: 0, 0, color: .white)])
        let r = render(scene)
        let renderer = Renderer(scene: scene)
        let top = renderer.project([0, 1.3, 0], width: 64, height: 64)
        let k = (Int(top.y) * 64 + Int(top.x)) * 3
        let (red, blue) = (Int(r.rgb[k]), Int(r.rgb[k + 2]))
        #expect(r.idMask[Int(top.y) * 64 + Int(top.x)] == 0)
        #expect(blue > red, "upper half of a mirror sphere at noon should be sky-blue: r \(red) b \(blue)")
    }

    @Test func nightIsDarkerThanNoon() {
        let objects = [Self.object(.cylinder, .rubber, at: 0, 0)]
        let noon = render(Self.scene(time: .noon, objects: objects))
        let night = render(Self.scene(time: .night, objects: objects))
        func mean(_ r: RenderedScene) -> Double { (0..<(64 * 64)).map { Self.luminance(r, $0 % 64, $0 / 64) }.reduce(0, +) / 4096 }
        #expect(mean(night) < mean(noon) * 0.5, "night \(mean(night)) vs noon \(mean(noon))")
    }

    /// The spherical-harmonic sky irradiance that diffuse shading uses agrees with a dense
    /// quadrature of ∫ L(ω) max(n·ω, 0) dω (order 2 keeps the clamped cosine's error to a few %).
    @Test(arguments: [TimeOfDay.noon, .goldenHour, .sunset, .overcast, .night])
    func skyIrradianceMatchesQuadrature(time: TimeOfDay) {
        let e = time.elevation * .pi / 180
        let sky = Sky(time: time, sun: normalize(SIMD3<Float>(cos(e) * 0.5, sin(e), cos(e) * 0.866)))
        let normals: [SIMD3<Float>] = [[0, 1, 0], [1, 0, 0], [0, 0, -1], normalize([0.5, 0.7, 0.5]), normalize([-0.3, 0.2, 0.9])]
        for n in normals {
            var reference = SIMD3<Float>.zero
            let nu = 200, nphi = 400
            for i in 0..<nu {
                let y = -1 + (Float(i) + 0.5) * 2 / Float(nu), r = (1 - y * y).squareRoot()
                for j in 0..<nphi {
                    let phi = (Float(j) + 0.5) * 2 * .pi / Float(nphi)
                    let d = SIMD3<Float>(r * cos(phi), y, r * sin(phi))
                    reference += sky.radiance(d, smooth: true) * max(dot(n, d), 0)
                }
            }
            reference *= 4 * .pi / Float(nu * nphi)
            let got = sky.irradiance(n)
            let error = (got - reference).max() > -(got - reference).min() ? (got - reference).max() : -(got - reference).min()
            #expect(error <= 0.08 * reference.max() + 1e-4, "\(time) n \(n): \(got) vs \(reference)")
        }
    }

    /// Open ground under a clear sky reads the same from every random stream: the sky's light comes
    /// from its irradiance, not from one random sample, so flat ground has no sampling speckle.
    @Test func openGroundIsFreeOfSamplingNoise() {
        let scene = Self.scene(time: .noon, objects: [Self.object(.cube, .rubber, at: 2.5, 1.5)], biome: .desert)
        let renderer = Renderer(scene: scene)
        let p = SIMD3<Float>(-1.5, 0, -2.5), n = SIMD3<Float>(0, 1, 0)
        var values: [Float] = []
        for stream in 0..<64 {
            var rng = SceneRandom(9, 0, UInt64(stream))
            values.append(renderer.diffuse(p, n, albedo: [0.5, 0.5, 0.5], depth: 0, &rng).y)
        }
        let mean = values.reduce(0, +) / Float(values.count)
        let spread = values.map { abs($0 - mean) }.max() ?? 0
        #expect(mean > 0.5 && spread <= 0.02 * mean, "mean \(mean), spread \(spread)")
    }
}

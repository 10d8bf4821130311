import Foundation

/// Which split a scene belongs to.
public enum SceneSplit: String, Sendable, CaseIterable {
    case train, heldout
}

/// Attribute combinations reserved for the held-out split: never produced in training, always
/// present (at least one) in held-out scenes, to measure generalisation rather than memory.
public enum HeldOut {
    public static let colorShapePairs: [(NamedColor, Shape)] = [
        (.red, .cone), (.blue, .torus), (.green, .cube), (.yellow, .sphere), (.purple, .cylinder),
    ]
    public static let shapeBiomePairs: [(Shape, Biome)] = [(.torus, .desert), (.cylinder, .snow), (.cone, .beach)]

    static func isHeldOut(_ o: SceneObject, biome: Biome) -> Bool {
        colorShapePairs.contains { $0.0 == o.color && $0.1 == o.shape } || shapeBiomePairs.contains { $0.0 == o.shape && $0.1 == biome }
    }

    /// Seeds of the held-out split come from a disjoint stream (the top bit set).
    static func streamSeed(_ seed: UInt64, _ split: SceneSplit) -> UInt64 {
        split == .heldout ? seed | (1 << 63) : seed & ~(1 << 63)
    }

    /// A human-readable listing, written beside a rendered dataset.
    public static var listing: String {
        var lines = ["# Attribute combinations that appear only in the held-out split", "", "color-shape:"]
        lines += colorShapePairs.map { "  \($0.0.rawValue) \($0.1.rawValue)" }
        lines += ["shape-biome:"]
        lines += shapeBiomePairs.map { "  \($0.0.rawValue) \($0.1.rawValue)" }
        lines += ["seeds: held-out scenes use seed | 2^63; training scenes use seed with the top bit clear"]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Restrictions on drawn scenes, for evaluation tasks whose attributes must be visible (for
/// example one large rubber object in a daylight photo). `nil` fields are unrestricted; an
/// unrestricted draw consumes exactly the random numbers it did before constraints existed.
public struct SceneConstraints: Sendable, Equatable {
    public var objectCounts: ClosedRange<Int>?
    public var styles: [Style]?
    public var times: [TimeOfDay]?
    public var materials: [Material]?
    public var sizes: [ObjectSize]?
    /// No two objects share a colour / a shape.
    public var distinctColors = false
    public var distinctShapes = false

    public init(objectCounts: ClosedRange<Int>? = nil, styles: [Style]? = nil, times: [TimeOfDay]? = nil,
                materials: [Material]? = nil, sizes: [ObjectSize]? = nil, distinctColors: Bool = false, distinctShapes: Bool = false) {
        self.objectCounts = objectCounts; self.styles = styles; self.times = times
        self.materials = materials; self.sizes = sizes; self.distinctColors = distinctColors; self.distinctShapes = distinctShapes
    }

    public static let none = SceneConstraints()

    /// The scenes `lumen eval` draws for a task (`color`, `shape`, `count`, `color_binding`,
    /// `position`, `biome`, `time_of_day`, `style`; `nil` for any other name). Object tasks use
    /// daylight photos of rubber or metal objects, so that what the prompt states can be seen
    /// (glass is nearly colourless, a pencil sketch has no colour, night hides both); the scene
    /// tasks keep everything else free. Kept here, not in the evaluator, so that the portable
    /// training renderer (`training/scene_shard`) draws the same scenes.
    public static func evalTask(_ name: String) -> SceneConstraints? {
        let day: [TimeOfDay] = [.noon, .goldenHour, .overcast]
        let opaque: [Material] = [.rubber, .metal]
        switch name {
        case "color", "shape":
            return SceneConstraints(objectCounts: 1...1, styles: [.photo], times: day, materials: opaque, sizes: [.large])
        case "count":
            return SceneConstraints(objectCounts: 2...4, styles: [.photo], times: day, materials: opaque)
        case "color_binding":
            return SceneConstraints(objectCounts: 2...2, styles: [.photo], times: day, materials: opaque, sizes: [.large],
                                    distinctColors: true, distinctShapes: true)
        case "position":
            return SceneConstraints(objectCounts: 2...2, styles: [.photo], times: day, materials: opaque, sizes: [.large],
                                    distinctShapes: true)
        case "biome":
            return SceneConstraints(objectCounts: 1...2, styles: [.photo], times: day)
        case "time_of_day":
            return SceneConstraints(objectCounts: 1...2, styles: [.photo])
        case "style":
            return SceneConstraints(objectCounts: 1...2, times: day)
        default:
            return nil
        }
    }

    func accepts(_ objects: [SceneObject]) -> Bool {
        if distinctColors && Set(objects.map(\.color)).count != objects.count { return false }
        if distinctShapes && Set(objects.map(\.shape)).count != objects.count { return false }
        return true
    }
}

/// Draws balanced scenes: every attribute independently and uniformly, objects placed CLEVR-style
/// with margins so that left/right and front/behind are never ambiguous.
public enum SceneSampler {
    /// Minimum separation along screen x and along depth between any two objects (world units).
    public static let margin: Float = 0.35

    /// The `attempt`-th candidate scene for (seed, index); the studio moves to the next attempt
    /// when an object would not be visible enough in the picture.
    public static func sample(seed: UInt64, index: Int, split: SceneSplit, attempt: Int = 0, constraints: SceneConstraints = .none) -> Scene {
        var rng = SceneRandom(HeldOut.streamSeed(seed, split), UInt64(index), UInt64(attempt))
        for _ in 0..<2000 {
            if let scene = draw(&rng, seed: seed, index: index, split: split, constraints: constraints) { return scene }
        }
        // Practically unreachable; a single object always fits.
        return draw(&rng, seed: seed, index: index, split: split, count: 1)!
    }

    static func draw(_ rng: inout SceneRandom, seed: UInt64, index: Int, split: SceneSplit, count: Int? = nil,
                     constraints c: SceneConstraints = .none) -> Scene? {
        let biome = rng.pick(Biome.allCases)
        var time = rng.pick(TimeOfDay.allCases)
        var style = rng.pick(Style.allCases)
        var n = count ?? (1 + rng.int(5))
        if let allowed = c.times, !allowed.contains(time) { time = rng.pick(allowed) }
        if let allowed = c.styles, !allowed.contains(style) { style = rng.pick(allowed) }
        if let range = c.objectCounts, !range.contains(n) { n = range.lowerBound + rng.int(range.count) }
        var objects: [SceneObject] = []
        for id in 0..<n {
            var placed: SceneObject?
            for _ in 0..<50 {
                var size = rng.pick(ObjectSize.allCases)
                if let allowed = c.sizes, !allowed.contains(size) { size = rng.pick(allowed) }
                let shape = rng.pick(Shape.allCases), color = rng.pick(NamedColor.allCases)
                var material = rng.pick(Material.allCases)
                if let allowed = c.materials, !allowed.contains(material) { material = rng.pick(allowed) }
                let o = SceneObject(id: id, shape: shape, color: color,
                                    material: material, size: size,
                                    position: [rng.uniform(-2.6, 2.6), 0, rng.uniform(-1.8, 2.4)],
                                    rotation: rng.uniform(0, .pi / 2), emissive: time == .night && rng.chance(0.35))
                let clear = objects.allSatisfy { other in
                    let gap = o.size.radius + other.size.radius
                    let dx = abs(o.position.x - other.position.x), dz = abs(o.position.z - other.position.z)
                    return (dx * dx + dz * dz).squareRoot() > gap + 0.1 && dx > margin + 0.25 * gap && dz > margin
                }
                if clear { placed = o; break }
            }
            guard let o = placed else { return nil }
            objects.append(o)
        }
        if !c.accepts(objects) { return nil }
        let held = objects.contains { HeldOut.isHeldOut($0, biome: biome) }
        if split == .train && held { return nil }
        if split == .heldout && !held { return nil }
        let elevation = time.elevation * .pi / 180
        let azimuth = rng.uniform(-2.4, 2.4)  // sun in front of the camera side-ish, never exactly behind
        let sun = SIMD3<Float>(cos(elevation) * sin(azimuth), sin(elevation), cos(elevation) * cos(azimuth))
        return Scene(seed: seed, index: index, objects: objects, biome: biome, timeOfDay: time, style: style, sunDirection: sun)
    }
}

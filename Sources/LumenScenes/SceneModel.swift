import Foundation

/// Shapes in the CLEVR discipline (Johnson et al. 2017) plus cone and torus.
public enum Shape: String, Codable, Sendable, CaseIterable {
    case sphere, cube, cylinder, cone, torus
    /// Words used in captions.
    var nouns: [String] {
        switch self {
        case .sphere: ["sphere", "ball"]
        case .cube: ["cube", "block"]
        case .cylinder: ["cylinder"]
        case .cone: ["cone"]
        case .torus: ["torus", "ring"]
        }
    }
}

public enum Material: String, Codable, Sendable, CaseIterable {
    case rubber, metal, glass
    var adjectives: [String] {
        switch self {
        case .rubber: ["rubber", "matte"]
        case .metal: ["metal", "metallic", "shiny"]
        case .glass: ["glass", "transparent"]
        }
    }
}

public enum ObjectSize: String, Codable, Sendable, CaseIterable {
    case small, large
    var radius: Float { self == .small ? 0.35 : 0.7 }
    var adjectives: [String] { self == .small ? ["small", "little"] : ["large", "big"] }
}

/// Named colours with their linear-RGB albedo.
public enum NamedColor: String, Codable, Sendable, CaseIterable {
    case red, green, blue, yellow, purple, cyan, orange, white, gray, brown
    public var albedo: SIMD3<Float> {
        switch self {
        case .red: [0.70, 0.05, 0.04]
        case .green: [0.08, 0.50, 0.08]
        case .blue: [0.05, 0.12, 0.70]
        case .yellow: [0.80, 0.65, 0.05]
        case .purple: [0.35, 0.08, 0.55]
        case .cyan: [0.05, 0.55, 0.60]
        case .orange: [0.85, 0.28, 0.03]
        case .white: [0.80, 0.80, 0.80]
        case .gray: [0.25, 0.25, 0.25]
        case .brown: [0.30, 0.15, 0.06]
        }
    }
}

/// Ground and surroundings.
public enum Biome: String, Codable, Sendable, CaseIterable {
    case grass, desert, snow, beach, lake, forest, mountains
    var phrases: [String] {
        switch self {
        case .grass: ["on grass", "on a green meadow", "in a grassy field"]
        case .desert: ["in a desert", "on desert sand", "among sand dunes"]
        case .snow: ["on snow", "in a snowy landscape", "on a snowfield"]
        case .beach: ["on a sandy beach", "on the beach by the sea", "at the coast"]
        case .lake: ["by a lake", "on the shore of a calm lake", "beside a lake"]
        case .forest: ["in a forest", "among trees", "in a clearing in the woods"]
        case .mountains: ["in the mountains", "below mountain peaks", "in a mountain valley"]
        }
    }
}

public enum TimeOfDay: String, Codable, Sendable, CaseIterable {
    case noon, goldenHour = "golden hour", sunset, overcast, night
    var phrases: [String] {
        switch self {
        case .noon: ["at noon", "in bright midday sun", "at midday"]
        case .goldenHour: ["at golden hour", "in warm golden-hour light", "in the late afternoon sun"]
        case .sunset: ["at sunset", "at dusk", "under a sunset sky"]
        case .overcast: ["on an overcast day", "under a cloudy sky", "in soft overcast light"]
        case .night: ["at night", "under a starry night sky", "at night under the moon"]
        }
    }
    /// Sun (or moon, at night) elevation in degrees.
    var elevation: Float {
        switch self {
        case .noon: 62
        case .goldenHour: 12
        case .sunset: 3
        case .overcast: 45
        case .night: 35
        }
    }
}

public enum Style: String, Codable, Sendable, CaseIterable {
    case photo, conceptArt = "concept art", watercolor, pixelArt = "pixel art", pencilSketch = "pencil sketch"
    var phrases: [String] {
        switch self {
        case .photo: ["a photo of", "a photograph of", "a realistic photo of"]
        case .conceptArt: ["concept art of", "a concept art illustration of"]
        case .watercolor: ["a watercolor painting of", "a watercolor of"]
        case .pixelArt: ["pixel art of", "a pixel art picture of"]
        case .pencilSketch: ["a pencil sketch of", "a pencil drawing of"]
        }
    }
}

/// One object as placed in the world (y up, the camera looks along +z).
public struct SceneObject: Codable, Sendable, Equatable {
    public var id: Int
    public var shape: Shape
    public var color: NamedColor
    public var material: Material
    public var size: ObjectSize
    /// Centre of the footprint on the ground (y = 0 is the ground).
    public var position: SIMD3<Float>
    /// Rotation about the vertical axis, radians.
    public var rotation: Float
    /// Glows (emissive), used at night.
    public var emissive: Bool
    /// Pixel bounding box `[x0, y0, x1, y1]` and pixel count in the id mask (filled by the renderer).
    public var pixelBox: [Int] = []
    public var pixelCount: Int = 0
    /// Mean pixel position (x, y) in the image.
    public var pixelCenter: [Double] = []
}

/// A relation between two objects, computed from rendered positions.
public struct Relation: Codable, Sendable, Equatable {
    public var subject: Int
    public var relation: String  // "left of", "right of", "in front of", "behind"
    public var object: Int
}

/// Everything in one picture.
public struct Scene: Codable, Sendable {
    public var seed: UInt64
    public var index: Int
    public var objects: [SceneObject]
    public var biome: Biome
    public var timeOfDay: TimeOfDay
    public var style: Style
    /// Direction towards the sun (or moon).
    public var sunDirection: SIMD3<Float>
    public var relations: [Relation] = []
    public var captions: [String] = []
}

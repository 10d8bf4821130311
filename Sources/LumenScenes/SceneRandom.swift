/// Deterministic randomness for scene generation: every picture and every pixel gets its own
/// stream derived from (seed, index, pixel), so output bytes never depend on thread count.
public struct SceneRandom: Sendable {
    var state: UInt64

    public init(_ parts: UInt64...) {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        for p in parts { h = SceneRandom.mix(h ^ p &+ 0x632B_E59B_D9B4_E019) }
        state = h
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SceneRandom.mix(state)
    }

    public mutating func float() -> Float { Float(next() >> 40) * 0x1p-24 }
    public mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * float() }
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(items.count)] }
    public mutating func chance(_ p: Float) -> Bool { float() < p }
}

import Foundation

/// A random source that reproduces `torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))`.
///
/// Port of PyTorch's CPU generator (`aten/src/ATen/CPUGeneratorImpl.cpp`, `core/MT19937RNGEngine.h`,
/// `core/TransformationHelper.h`, `native/cpu/DistributionTemplates.h`) in the manner of Apple's
/// `TorchRandomSource` in ml-stable-diffusion:
/// - the engine is a standard 32-bit Mersenne Twister seeded with `seed`;
/// - for `n ≥ 16` fp32 normals, torch first draws `n` uniforms `(u32 & 0xFFFFFF) · 2⁻²⁴`, then turns
///   each block of 16 into normals with Box–Muller (`u1 = 1 − x[j]`, `u2 = x[j+8]`), recomputing the
///   last 16 from fresh uniforms when `n` is not a multiple of 16;
/// - for `n < 16` it draws double-precision normals one at a time (53-bit uniforms, `log1p`), caching
///   the second Box–Muller value in the generator, as torch does.
///
/// Successive calls continue the same stream, so ancestral-sampler noise drawn after the initial
/// latents matches diffusers using one generator.
public struct TorchRandomSource: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624
    private var nextDoubleNormal: Double?

    public init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<624 {
            let prev = state[i - 1]
            state[i] = 1_812_433_253 &* (prev ^ (prev >> 30)) &+ UInt32(i)
        }
        index = 624
    }

    /// The next 32-bit output of MT19937.
    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        for i in 0..<624 {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
            var next = state[(i + 397) % 624] ^ (y >> 1)
            if y & 1 != 0 { next ^= 0x9908_B0DF }
            state[i] = next
        }
        index = 0
    }

    private mutating func uniformFloat() -> Float {
        Float(nextUInt32() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    private mutating func uniformDouble() -> Double {
        let hi = UInt64(nextUInt32()), lo = UInt64(nextUInt32())
        let bits = (hi << 32) | lo
        return Double(bits & ((1 << 53) - 1)) * 0x1p-53
    }

    private mutating func normalDouble() -> Double {
        if let cached = nextDoubleNormal {
            nextDoubleNormal = nil
            return cached
        }
        let u1 = uniformDouble(), u2 = uniformDouble()
        let r = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        nextDoubleNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }

    private static func normalFill16(_ p: UnsafeMutablePointer<Float>) {
        for j in 0..<8 {
            let u1 = 1 - p[j]
            let u2 = p[j + 8]
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi) * u2
            p[j] = radius * Foundation.cos(theta)
            p[j + 8] = radius * Foundation.sin(theta)
        }
    }

    /// `count` standard normal fp32 values, as `torch.randn` fills a contiguous tensor.
    public mutating func normal(count: Int) -> [Float] {
        if count < 16 {
            return (0..<count).map { _ in Float(normalDouble()) }
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { buf in
            let p = buf.baseAddress!
            for i in 0..<count { p[i] = uniformFloat() }
            var i = 0
            while i + 16 <= count {
                TorchRandomSource.normalFill16(p + i)
                i += 16
            }
            if count % 16 != 0 {
                let tail = p + count - 16
                for j in 0..<16 { tail[j] = uniformFloat() }
                TorchRandomSource.normalFill16(tail)
            }
        }
        return values
    }

    /// A tensor of standard normals with the given shape (`torch.randn(shape, generator=g)`).
    public mutating func randn(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: normal(count: shape.reduce(1, *)))
    }
}

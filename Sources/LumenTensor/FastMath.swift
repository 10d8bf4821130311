/// Vectorised `exp` for the hot loops (softmax, SiLU), after Cephes' `expf` as used by
/// SLEEF-style SIMD libraries: `eˣ = 2ⁿ · e^r` with `n = round(x·log₂e)`, `r = x − n·ln2` split in
/// two constants for precision, and a degree-6 polynomial for `e^r` on [−ln2/2, ln2/2].
/// Relative error ≈ 1 ulp of fp32, so results stay within parity tolerances while running
/// 8 lanes at a time instead of calling `expf` per element.
public enum FastMath {
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let x = v.clamped(lowerBound: SIMD8(repeating: -87.33654), upperBound: SIMD8(repeating: 88.37626))
        let n = (x * 1.442695040888963 + 0.5).rounded(.down)
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r * r + r + 1
        let bits = (SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int32>(n)) &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// In-place `x ← exp(x − shift)` over `n` floats; returns the sum of the results.
    @inlinable
    public static func expSubtractSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        let s = SIMD8<Float>(repeating: shift)
        while i + 8 <= n {
            let raw = UnsafeMutableRawPointer(p + i)
            let e = exp(raw.loadUnaligned(as: SIMD8<Float>.self) - s)
            raw.storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            i += 8
        }
        var sum = acc.sum()
        while i < n {
            let e = Foundation_expf(p[i] - shift)
            p[i] = e
            sum += e
            i += 1
        }
        return sum
    }

    /// In-place SiLU `x · σ(x)` over `n` floats.
    @inlinable
    public static func siluInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let raw = UnsafeMutableRawPointer(p + i)
            let x = raw.loadUnaligned(as: SIMD8<Float>.self)
            raw.storeBytes(of: x / (1 + exp(-x)), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            p[i] = p[i] / (1 + Foundation_expf(-p[i]))
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline @inline(__always) func Foundation_expf(_ x: Float) -> Float { Glibc.expf(x) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline @inline(__always) func Foundation_expf(_ x: Float) -> Float { Darwin.expf(x) }
#endif

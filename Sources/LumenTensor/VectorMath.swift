import Foundation

/// Vectorised element-wise math for the kernels' inner loops (SiLU, GELU, softmax, GroupNorm statistics).
///
/// `Foundation.exp` costs about 5 ns per call here and is never vectorised, which made SiLU and
/// softmax a visible share of a UNet step. `exp` below is the Cephes `expf` algorithm
/// (Moshier; the same range reduction and degree-5 polynomial as `expf` in Cephes and in the SSE
/// code of Pommier's `sse_mathfun`), written on `SIMD16<Float>` with only adds, multiplies and
/// bit-pattern integer ops, so the compiler emits AVX2 code with no scalar fallback: ≤ 2 ulp
/// on [-87, 88], well inside the 1e-4 parity budget.
public enum VectorMath {
    public typealias F8 = SIMD8<Float>
    public typealias F16 = SIMD16<Float>

    /// On 16 lanes: one AVX-512 register where the CPU has it (LLVM keeps `SIMD8` at 256 bits, so
    /// 8-lane code used half of each vector unit), two AVX2 registers elsewhere.
    @inline(__always)
    public static func exp(_ v: F16) -> F16 {
        // Clamp by masks (`clamped(lowerBound:upperBound:)` compiles to an out-of-line generic call).
        var x = v
        x.replace(with: F16(repeating: -87.0), where: x .< F16(repeating: -87.0))
        x.replace(with: F16(repeating: 88.0), where: x .> F16(repeating: 88.0))
        // n = round(x / ln 2) by the 1.5·2²³ trick (round-to-nearest in the adder, no conversion).
        let magic = F16(repeating: 12_582_912.0)
        let t = x * F16(repeating: 1.442_695_04) + magic
        let n = t - magic
        // Cody–Waite: r = x − n·ln 2 in two parts.
        let r = x - n * F16(repeating: 0.693_359_375) + n * F16(repeating: 2.121_944_4e-4)
        var p = F16(repeating: 1.987_569_15e-4)
        p = p * r + F16(repeating: 1.398_199_950_7e-3)
        p = p * r + F16(repeating: 8.333_451_907_3e-3)
        p = p * r + F16(repeating: 4.166_579_589_4e-2)
        p = p * r + F16(repeating: 1.666_666_545_9e-1)
        p = p * r + F16(repeating: 5.000_000_120_1e-1)
        let y = p * r * r + r + F16(repeating: 1)
        // Multiply by 2ⁿ: n sits in t's low mantissa bits; add it to y's exponent field.
        let k = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000)
        return unsafeBitCast(unsafeBitCast(y, to: SIMD16<Int32>.self) &+ (k &<< 23), to: F16.self)
    }

    /// `erfc(z)` for `z ≥ 0`: the Chebyshev fit `erfcc` of Numerical Recipes (Press et al., 2nd
    /// ed., §6.2), fractional error < 1.2e-7 everywhere, built on the vector `exp` (16 lanes).
    /// `Foundation.erf` is a scalar libm call (~10 ns), which made the exact GELU of CLIP ViT-H
    /// and of the UNet's GEGLU a tenth of the text encoder's time.
    @inline(__always)
    public static func erfcNonNegative(_ z: F16) -> F16 {
        let t = F16(repeating: 1) / (F16(repeating: 1) + F16(repeating: 0.5) * z)
        var p = F16(repeating: 0.170_872_77)
        p = p * t + F16(repeating: -0.822_152_23)
        p = p * t + F16(repeating: 1.488_515_87)
        p = p * t + F16(repeating: -1.135_203_98)
        p = p * t + F16(repeating: 0.278_868_07)
        p = p * t + F16(repeating: -0.186_288_06)
        p = p * t + F16(repeating: 0.096_784_18)
        p = p * t + F16(repeating: 0.374_091_96)
        p = p * t + F16(repeating: 1.000_023_68)
        return t * exp(t * p - z * z - F16(repeating: 1.265_512_23))
    }

    /// Exact (erf) GELU, `0.5·x·(1 + erf(x/√2))`, as `torch.nn.functional.gelu`. Written with
    /// `erfc` of |x|/√2 so negative inputs keep their relative precision: `1 + erf(x/√2)` is
    /// `erfc(|x|/√2)` for x < 0 and `2 − erfc(x/√2)` otherwise.
    @inline(__always)
    public static func gelu(_ x: F16) -> F16 {
        let magnitude = unsafeBitCast(unsafeBitCast(x, to: SIMD16<Int32>.self) & SIMD16<Int32>(repeating: 0x7FFF_FFFF), to: F16.self)
        let e = erfcNonNegative(magnitude * F16(repeating: 0.707_106_781_186_547_5))
        var onePlusErf = F16(repeating: 2) - e
        onePlusErf.replace(with: e, where: x .< F16.zero)
        return F16(repeating: 0.5) * x * onePlusErf
    }

    /// `dst[i] = gelu(src[i])`, 16 lanes at a time (see `geglu`).
    public static func gelu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count { store16(gelu(load16(src + i)), dst + i); i += 16 }
        if i < count { storePartial16(gelu(loadPartial16(src + i, count: count - i)), dst + i, count: count - i) }
    }

    /// GEGLU's product `dst[i] = value[i] · gelu(gate[i])`, 16 lanes at a time: one AVX-512
    /// register where the CPU has it (LLVM keeps `SIMD8` at 256 bits), half the instructions of
    /// the erfc's division, polynomial and exp per value. Random SD-Turbo at 256², one UNet call's
    /// GEGLUs (11.5 M values; `LUMEN_PROFILE=1 lumen bench`, Zen 5, two runs each): 9.6 → 5.2–5.4 ms.
    /// (Written on `SIMD16` directly: a version generic over the lane count ran 5× slower, its
    /// arithmetic resolving to the `SIMD` protocol's lane-by-lane operators.)
    public static func geglu(value: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count { store16(load16(value + i) * gelu(load16(gate + i)), dst + i); i += 16 }
        if i < count {
            let rest = count - i
            storePartial16(loadPartial16(value + i, count: rest) * gelu(loadPartial16(gate + i, count: rest)), dst + i, count: rest)
        }
    }

    /// Eight floats from `p` (any alignment). Written lane by lane: the lane initialiser and
    /// pointer subscripts are transparent and LLVM merges them into one `vmovups`, whereas
    /// `loadUnaligned(as:)` is a generic the SIL inliner leaves out of line in large kernels (the
    /// fused Winograd blocks called it per vector: ~1 % of a 512² generation's samples).
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> F8 { F8(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]) }
    @inline(__always) static func store(_ v: F8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self) }

    /// `dst[i] = silu(src[i] · scale + shift)` (`src` and `dst` may be the same buffer).
    public static func affineSiLU(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                                  scale: Float = 1, shift: Float = 0) {
        var i = 0
        // 16 lanes (one AVX-512 register), the tail as one padded vector: the SD VAE decoder's
        // GroupNorm+SiLU at 256², 5 decodes, 0.158 → 0.106–0.111 s at 128 channels × 65536
        // against 8 lanes.
        let s = F16(repeating: scale), b = F16(repeating: shift), one = F16(repeating: 1)
        while i + 16 <= count {
            let v = load16(src + i) * s + b
            store16(v / (one + exp(-v)), dst + i)
            i += 16
        }
        if i < count {
            let v = loadPartial16(src + i, count: count - i) * s + b
            storePartial16(v / (one + exp(-v)), dst + i, count: count - i)
        }
    }

    /// In-place softmax of one row of `n` values.
    public static func softmax(_ row: UnsafeMutablePointer<Float>, n: Int) {
        let s = softmaxNumerators(row, n: n)
        let inv = F8(repeating: 1 / s)
        var i = 0
        while i + 8 <= n { store(load(row + i) * inv, row + i); i += 8 }
        while i < n { row[i] *= 1 / s; i += 1 }
    }

    /// Replaces a row by `exp(x − max x)` and returns the sum: softmax without the division, for
    /// callers that divide a much narrower product instead (attention divides `P·V`, 64 wide, not
    /// the 4096-wide score row — FlashAttention's deferred normalisation, Dao et al. 2022).
    public static func softmaxNumerators(_ row: UnsafeMutablePointer<Float>, n: Int) -> Float {
        var mv16 = F16(repeating: -.infinity)
        var j = 0
        while j + 16 <= n { let v = load16(row + j); mv16.replace(with: v, where: v .> mv16); j += 16 }
        var m = mv16.max()
        while j < n { m = Swift.max(m, row[j]); j += 1 }
        let mv = F16(repeating: m)
        var acc = F16.zero
        var i = 0
        while i + 16 <= n {
            let e = exp(load16(row + i) - mv)
            store16(e, row + i)
            acc += e
            i += 16
        }
        if i < n {
            // The tail as one vector; unused lanes are −∞, whose exp (clamped at e⁻⁸⁷ ≈ 1.6e-38)
            // adds nothing a float sum of at least 1 can hold.
            let e = exp(loadPartial16(row + i, count: n - i, padding: -.infinity) - mv)
            storePartial16(e, row + i, count: n - i)
            acc += e
        }
        return acc.sum()
    }

    /// Softmax numerators of a row of scores given in base 2 (`x·log₂e`, folded into the
    /// product that made them), written as bf16 (rounded to nearest even) to `dst`; returns
    /// their fp32 sum. For attention's bf16 path, whose probabilities go straight to a bf16
    /// `P·V`: no fp32 numerators are stored and read back for a conversion pass, the cheaper
    /// `exp2NonPositive` suffices, and two vectors per step give the CPU two independent
    /// dependency chains (the single-chain fp32 `exp` loop was bound by its latency). Vectors are
    /// 16 lanes, one AVX-512 register (LLVM keeps `SIMD8` at 256 bits): the UNet's 4096-token
    /// attention at 512² with guidance, 3 alternating pairs in a harness, 167–190 → 155–177 ms.
    public static func softmaxNumeratorsBase2(_ row: UnsafePointer<Float>, n: Int, into dst: UnsafeMutablePointer<UInt16>) -> Float {
        typealias F16 = SIMD16<Float>
        var m0 = F16(repeating: -.infinity), m1 = m0
        var j = 0
        while j + 32 <= n {
            let a = load16(row + j), b = load16(row + j + 16)
            m0.replace(with: a, where: a .> m0); m1.replace(with: b, where: b .> m1)
            j += 32
        }
        m0.replace(with: m1, where: m1 .> m0)
        var m = m0.max()
        while j < n { m = Swift.max(m, row[j]); j += 1 }
        let mv = F16(repeating: m)
        var s0 = F16.zero, s1 = F16.zero
        var i = 0
        while i + 32 <= n {
            let e0 = exp2NonPositive(load16(row + i) - mv), e1 = exp2NonPositive(load16(row + i + 16) - mv)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: BF16Matmul.bfloat16(e0), as: SIMD16<UInt16>.self)
            UnsafeMutableRawPointer(dst + i + 16).storeBytes(of: BF16Matmul.bfloat16(e1), as: SIMD16<UInt16>.self)
            s0 += e0; s1 += e1
            i += 32
        }
        var s = (s0 + s1).sum()
        while i < n {
            let e = Foundation.exp2(Swift.max(row[i] - m, -126))
            dst[i] = BF16Matmul.bfloat16(bits: e.bitPattern)
            s += e
            i += 1
        }
        return s
    }

    @inline(__always) static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always) static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// The first `count` (< 16) lanes from `p`, the others `padding`: a row's tail as one vector.
    /// Copied as bytes, since setting lanes one by one compiled to a chain of lane inserts.
    @inline(__always) static func loadPartial16(_ p: UnsafePointer<Float>, count: Int, padding: Float = 0) -> F16 {
        var v = F16(repeating: padding)
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: count * MemoryLayout<Float>.stride) }
        return v
    }

    /// Writes the first `count` (< 16) lanes of `v` to `p`.
    @inline(__always) static func storePartial16(_ v: F16, _ p: UnsafeMutablePointer<Float>, count: Int) {
        withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: count * MemoryLayout<Float>.stride) }
    }

    /// `2^x` for `x ≤ 0` to ~4e-5 relative (a degree-4 Taylor polynomial of `2^f`, |f| ≤ ½):
    /// enough for values rounded to bf16 (2⁻⁹) next, and about half the work of `exp`. Inputs
    /// below −126 (a causal mask's −∞ among them) give ~2⁻¹²⁶, zero in any sum that matters.
    @inline(__always)
    static func exp2NonPositive(_ v: SIMD16<Float>) -> SIMD16<Float> {
        typealias F16 = SIMD16<Float>
        var x = v
        x.replace(with: F16(repeating: -126), where: x .< F16(repeating: -126))
        let magic = F16(repeating: 12_582_912.0)
        let t = x + magic
        let f = x - (t - magic)
        // 2^f = e^(f·ln 2): Horner in f with coefficients ln2ᵏ/k!.
        var p = f * F16(repeating: 9.618_129_1e-3) + F16(repeating: 5.550_410_9e-2)
        p = p * f + F16(repeating: 0.240_226_5)
        p = p * f + F16(repeating: 0.693_147_18)
        p = p * f + F16(repeating: 1)
        let k = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000)
        return unsafeBitCast(unsafeBitCast(p, to: SIMD16<Int32>.self) &+ (k &<< 23), to: F16.self)
    }

    /// Σx and Σx² of `count` values: fp32 vector partial sums over blocks of 2048, accumulated in
    /// fp64 across blocks (relative error ~1e-7 for any length, where one fp32 sum would drift).
    public static func sumAndSquares(_ p: UnsafePointer<Float>, count: Int) -> (Double, Double) {
        var sum = 0.0, squares = 0.0
        var start = 0
        while start < count {
            let end = Swift.min(start + 2048, count)
            var a = F8.zero, q = F8.zero
            var i = start
            while i + 8 <= end { let v = load(p + i); a += v; q += v * v; i += 8 }
            var s = Double(a.sum()), sq = Double(q.sum())
            while i < end { let v = Double(p[i]); s += v; sq += v * v; i += 1 }
            sum += s; squares += sq
            start = end
        }
        return (sum, squares)
    }
}

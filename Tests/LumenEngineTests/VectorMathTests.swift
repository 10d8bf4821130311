import Foundation
@testable import LumenTensor
import Testing

/// The vectorised exp, erfc, GELU, GEGLU, SiLU, softmax and GroupNorm statistics against scalar double-precision math.
@Suite struct VectorMathTests {
    @Test func expIsWithinTwoUlpOverTheUsefulRange() {
        var worst = 0.0
        var x: Float = -87
        while x < 87.8 {
            let lanes = VectorMath.F16((0..<16).map { x + Float($0) * 0.0137 })
            let got = VectorMath.exp(lanes)
            for i in 0..<16 {
                let want = Foundation.exp(Double(lanes[i]))
                worst = max(worst, abs(Double(got[i]) - want) / want)
            }
            x += 0.113
        }
        #expect(worst < 2.5e-7, "relative error \(worst)")
        // Clamped, never inf or NaN.
        let extreme = VectorMath.exp(VectorMath.F16(lowHalf: VectorMath.F8(-1000, -90, 90, 1000, .zero, -0.0, 1, -1), highHalf: .zero))
        #expect((0..<16).allSatisfy { extreme[$0].isFinite && extreme[$0] >= 0 })
    }

    /// Attention's bf16 probabilities: base-2 numerators within bf16 rounding of the exact ones
    /// (the polynomial's own error is ~4e-5), their fp32 sum within 1e-4, a masked −∞ giving 0.
    @Test func base2SoftmaxNumeratorsRoundToBF16() {
        let n = 1011  // a scalar tail of 19 after 32-wide steps
        var row = (0..<n).map { Float(sin(Double($0) * 0.41) * 20) }
        row[5] = -.infinity
        var dst = [UInt16](repeating: 0, count: n)
        let sum = row.withUnsafeBufferPointer { r in
            dst.withUnsafeMutableBufferPointer { VectorMath.softmaxNumeratorsBase2(r.baseAddress!, n: n, into: $0.baseAddress!) }
        }
        let m = Double(row.max()!)
        let exact = row.map { Foundation.exp2(Double($0) - m) }
        for i in 0..<n {
            let got = Double(Float(bitPattern: UInt32(dst[i]) << 16))
            #expect(abs(got - exact[i]) <= exact[i] * (1.0 / 256 + 1e-4) + 1e-30, "lane \(i): \(got) vs \(exact[i])")
        }
        #expect(dst[5] == 0 || Float(bitPattern: UInt32(dst[5]) << 16) < 1e-37)
        #expect(abs(Double(sum) - exact.reduce(0, +)) <= 1e-4 * exact.reduce(0, +))
    }

    @Test func siluSoftmaxAndStatisticsMatchScalarMath() {
        let n = 1003  // not a multiple of 16: the padded tail vectors run too
        let values = (0..<n).map { Float(sin(Double($0) * 0.37) * 12) }
        var silu = [Float](repeating: 0, count: n)
        values.withUnsafeBufferPointer { src in
            silu.withUnsafeMutableBufferPointer { VectorMath.affineSiLU(src.baseAddress!, $0.baseAddress!, count: n, scale: 0.5, shift: 0.25) }
        }
        for i in 0..<n {
            let v = Double(values[i]) * 0.5 + 0.25
            #expect(abs(Double(silu[i]) - v / (1 + Foundation.exp(-v))) <= 1e-6 * max(1, abs(v)))
        }
        var row = values
        row.withUnsafeMutableBufferPointer { VectorMath.softmax($0.baseAddress!, n: n) }
        let m = values.map(Double.init).max()!
        let denominator = values.map { Foundation.exp(Double($0) - m) }.reduce(0, +)
        for i in 0..<n { #expect(abs(Double(row[i]) - Foundation.exp(Double(values[i]) - m) / denominator) <= 1e-7) }
        let (sum, squares) = values.withUnsafeBufferPointer { VectorMath.sumAndSquares($0.baseAddress!, count: n) }
        #expect(abs(sum - values.map(Double.init).reduce(0, +)) <= 1e-3)
        #expect(abs(squares - values.map { Double($0) * Double($0) }.reduce(0, +)) <= 1e-6 * squares)
    }

    @Test func geluAndGegluMatchTheExactErfForm() {
        let n = 1005  // a tail of 13 lanes
        let values = (0..<n).map { Float(sin(Double($0) * 0.53) * 9) }
        let gates = values.map { -$0 * 0.7 }
        var gelu = [Float](repeating: 0, count: n), geglu = gelu
        values.withUnsafeBufferPointer { src in
            gelu.withUnsafeMutableBufferPointer { VectorMath.gelu(src.baseAddress!, $0.baseAddress!, count: n) }
            gates.withUnsafeBufferPointer { g in
                geglu.withUnsafeMutableBufferPointer { VectorMath.geglu(value: src.baseAddress!, gate: g.baseAddress!, $0.baseAddress!, count: n) }
            }
        }
        func exact(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())) }
        for i in 0..<n {
            let x = Double(values[i]), g = Double(gates[i])
            #expect(abs(Double(gelu[i]) - exact(x)) <= 1e-6 * max(1, abs(x)), "gelu(\(x))")
            #expect(abs(Double(geglu[i]) - x * exact(g)) <= 1e-6 * max(1, abs(x * g)), "geglu(\(x), \(g))")
        }
        // Far tails: 0 for large negative, x for large positive, never NaN.
        let tails = VectorMath.gelu(VectorMath.F16(lowHalf: VectorMath.F8(-1000, -30, -9, 0, -0.0, 9, 30, 1000), highHalf: .zero))
        #expect(abs(tails[0]) < 1e-30 && abs(tails[1]) < 1e-30 && abs(tails[2]) < 1e-15 && tails[3] == 0 && tails[4] == 0)
        #expect(tails[5] == 9 && tails[6] == 30 && tails[7] == 1000)
    }
}

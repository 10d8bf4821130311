import Foundation
@testable import LumenTensor
import Testing

/// The vectorised exp, SiLU, softmax and GroupNorm statistics against scalar double-precision math.
@Suite struct VectorMathTests {
    @Test func expIsWithinTwoUlpOverTheUsefulRange() {
        var worst = 0.0
        var x: Float = -87
        while x < 87.8 {
            let lanes = VectorMath.F8((0..<8).map { x + Float($0) * 0.0137 })
            let got = VectorMath.exp(lanes)
            for i in 0..<8 {
                let want = Foundation.exp(Double(lanes[i]))
                worst = max(worst, abs(Double(got[i]) - want) / want)
            }
            x += 0.113
        }
        #expect(worst < 2.5e-7, "relative error \(worst)")
        // Clamped, never inf or NaN.
        let extreme = VectorMath.exp(VectorMath.F8(-1000, -90, 90, 1000, .zero, -0.0, 1, -1))
        #expect((0..<8).allSatisfy { extreme[$0].isFinite && extreme[$0] >= 0 })
    }

    @Test func siluSoftmaxAndStatisticsMatchScalarMath() {
        let n = 1003  // not a multiple of 8: the scalar tails run too
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
}

import Foundation
@testable import LumenTensor
import Testing

/// `NN.conv2d` against a direct double-precision convolution, for each lowering it picks:
/// Winograd F(4×4, 3×3), the direct few-output 3×3 kernel, im2col + GEMM (strided, other
/// paddings; a small batch unfolded side by side into one GEMM), and 1×1 GEMM.
@Suite struct ConvolutionTests {
    /// Deterministic values in [-1, 1) (a 64-bit LCG; no dependence on the system's RNG).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24) * 2 - 1)
        }
    }

    static func reference(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Int, pad: Int) -> [Double] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1
        var y = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            var s = Double(bias?.data[oc] ?? 0)
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                s += Double(x.data[((b * c + ic) * h + iy) * w + ix]) * Double(weight.data[((oc * c + ic) * kh + ky) * kw + kx])
            } } }
            y[((b * o + oc) * oh + oy) * ow + ox] = s
        } } } }
        return y
    }

    @Test(arguments: [
        // (n, c, o, h, w, k, stride, pad, bias): Winograd cases first (≥ 32×32 pixels; sizes not
        // multiples of 4 so the clipped last tiles are checked), then im2col below that size.
        (2, 16, 12, 67, 63, 3, 1, 1, true), (1, 8, 8, 64, 64, 3, 1, 1, false), (1, 24, 16, 65, 70, 3, 1, 1, true),
        (2, 10, 12, 32, 34, 3, 1, 1, true),
        // More input channels than the filter transform stages at once (64), the last block partial.
        (1, 2 * Winograd.filterStageChannels + 6, 9, 33, 35, 3, 1, 1, true),
        (1, 40, 24, 9, 23, 3, 1, 1, true), (1, 12, 9, 33, 31, 3, 1, 1, true),
        (2, 16, 8, 12, 12, 3, 2, 1, true), (1, 4, 6, 7, 5, 3, 1, 1, true), (2, 16, 8, 6, 7, 1, 1, 0, true),
        (2, 12, 10, 5, 4, 3, 1, 1, false), (3, 8, 6, 4, 4, 3, 1, 1, true),
        // Direct few-output path (image heads), including one-pixel-wide and one-row pictures.
        (2, 64, 3, 70, 67, 3, 1, 1, true), (1, 20, 4, 5, 1, 3, 1, 1, false), (1, 7, 1, 1, 9, 3, 1, 1, true),
    ])
    func matchesDirectConvolution(_ p: (Int, Int, Int, Int, Int, Int, Int, Int, Bool)) {
        let (n, c, o, h, w, k, stride, pad, hasBias) = p
        let x = Tensor(shape: [n, c, h, w], data: Self.values(n * c * h * w, seed: 1))
        let weight = Tensor(shape: [o, c, k, k], data: Self.values(o * c * k * k, seed: 2).map { $0 * 0.3 })
        let bias = hasBias ? Tensor(shape: [o], data: Self.values(o, seed: 3)) : nil
        let y = NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: .same(pad))
        #expect(Winograd.applies(c: c, o: o, kh: k, kw: k, stride: stride, padding: .same(pad), h: h, w: w) == (k == 3 && stride == 1 && h * w >= 1024 && c >= 8 && o >= 8))
        let ref = Self.reference(x, weight, bias, stride: stride, pad: pad)
        #expect(y.count == ref.count)
        let worst = zip(y.data, ref).map { abs(Double($0) - $1) }.max() ?? 0
        let scale = ref.map(abs).max() ?? 1
        #expect(worst <= 1e-5 * scale, "max error \(worst) (scale \(scale))")
    }

    /// A residual added and an activation applied with the convolution give what adding and
    /// applying them afterwards gives: inside Winograd's output transform (ReLU; fused and
    /// chunked paths, clipped last tiles), and afterwards on the other paths (im2col) and for
    /// other activations.
    @Test(arguments: [(2, 16, 12, 37, 45, NN.Activation.relu, Winograd.fusedMaximumChannels), (1, 16, 12, 37, 45, .relu, 0),
                      (1, 12, 10, 5, 4, .relu, Winograd.fusedMaximumChannels), (2, 16, 12, 37, 45, .silu, Winograd.fusedMaximumChannels)])
    func residualAndActivationMatchSeparatePasses(_ p: (Int, Int, Int, Int, Int, NN.Activation, Int)) {
        let (n, c, o, h, w, activation, fusedChannels) = p
        let x = Tensor(shape: [n, c, h, w], data: Self.values(n * c * h * w, seed: 4))
        let weight = Tensor(shape: [o, c, 3, 3], data: Self.values(o * c * 9, seed: 5).map { $0 * 0.3 })
        let bias = Tensor(shape: [o], data: Self.values(o, seed: 6))
        let residual = Tensor(shape: [n, o, h, w], data: Self.values(n * o * h * w, seed: 7))
        var separate = NN.conv2d(x, weight: weight, bias: bias, padding: .same(1))
        separate += residual
        separate = activation.apply(separate)
        var fused = NN.conv2d(x, weight: WeightTensor(weight), bias: bias, padding: .same(1), adding: residual, then: activation)
        if fusedChannels == 0 {
            // The chunked path (wide layers) takes the same epilogue.
            var y = [Float](repeating: .nan, count: n * o * h * w)
            x.data.withUnsafeBufferPointer { xp in weight.data.withUnsafeBufferPointer { wp in bias.data.withUnsafeBufferPointer { bp in
                residual.data.withUnsafeBufferPointer { rp in y.withUnsafeMutableBufferPointer { yp in
                    Winograd.conv3x3(xp.baseAddress!, n: n, c: c, h: h, w: w,
                                     weightRows: { rows, body in body(wp.baseAddress! + rows.lowerBound * c * 9) }, o: o,
                                     bias: bp.baseAddress!, out: yp.baseAddress!, chunkRows: 3, fusedChannels: 0,
                                     epilogue: Winograd.Epilogue(residual: rp.baseAddress!, relu: true))
                } }
            } } }
            fused = Tensor(shape: [n, o, h, w], data: y)
        }
        let worst = zip(fused.data, separate.data).map { abs($0 - $1) }.max() ?? .nan
        #expect(fused.shape == separate.shape)
        // The chunked case multiplies other tile counts than the fused path `separate` took, so
        // OpenBLAS may sum in another order: 3.5e-6 of the scale on a Zen 5 EPYC (OpenBLAS's
        // kernels for it), where 1e-6 held on the Zen 4 and Intel machines. A residual or ReLU
        // left out would be off by the residual itself, ~1 here.
        #expect(worst <= 1e-5 * (separate.data.map(abs).max() ?? 1), "worst error \(worst)")
        #expect(activation != .relu || !fused.data.contains { $0 < 0 })
    }

    /// The chunked Winograd path with its filters transformed in blocks of output channels (as for
    /// the UNet's wide layers) and its tiles in several chunks, so each chunk transforms every
    /// block again: the same result as the direct convolution, also for a last block narrower
    /// than the others.
    @Test(arguments: [(1, 5 * 36 * 9, nil as Int?), (2, 4 * 36 * 9, 3), (1, 36 * 9, 2), (2, 1 << 22, 5)])
    func winogradBlocking(_ p: (Int, Int, Int?)) {
        let (n, filterBlockFloats, chunkRows) = p
        let y = Self.winograd(n: n, c: 9, o: 11, h: 21, w: 19, filterBlockFloats: filterBlockFloats, chunkRows: chunkRows, fusedChannels: 0)
        #expect(!y.output.contains { $0.isNaN }, "some outputs were never written")
        let worst = zip(y.output, y.reference).map { abs(Double($0) - $1) }.max() ?? .nan
        let scale = y.reference.map(abs).max() ?? 1
        #expect(worst <= 1e-5 * scale, "max error \(worst) (scale \(scale))")
    }

    /// The fused Winograd path in blocks of every shape: tile-row segments narrower than a vector
    /// and not a multiple of 8, several per row with a shorter last one, and several rows per
    /// block running across images; its result is the direct convolution's.
    @Test(arguments: [(1, 5), (2, 3), (1, 12), (2, 40), (2, 1000)])
    func winogradFusedBlocks(_ p: (Int, Int)) {
        let (n, blockTiles) = p
        let (c, o, h, w) = (10, 13, 37, 45)  // 12 × 10 tiles, the last ones clipped
        let y = Self.winograd(n: n, c: c, o: o, h: h, w: w, blockTiles: blockTiles)
        #expect(!y.output.contains { $0.isNaN }, "some outputs were never written")
        let worst = zip(y.output, y.reference).map { abs(Double($0) - $1) }.max() ?? .nan
        let scale = y.reference.map(abs).max() ?? 1
        #expect(worst <= 1e-5 * scale, "max error \(worst) (scale \(scale))")
    }

    /// `Winograd.conv3x3` (with whole filters and the fused path unless told otherwise) and the
    /// direct reference, on deterministic inputs.
    static func winograd(n: Int, c: Int, o: Int, h: Int, w: Int, filterBlockFloats: Int = ScratchPool.maximumPooledFloats,
                         chunkRows: Int? = nil, blockTiles: Int = Winograd.blockTiles,
                         fusedChannels: Int = Winograd.fusedMaximumChannels,
                         filterCache: DerivedWeightCache? = nil) -> (output: [Float], reference: [Double]) {
        let x = Tensor(shape: [n, c, h, w], data: values(n * c * h * w, seed: 7))
        let weight = Tensor(shape: [o, c, 3, 3], data: values(o * c * 9, seed: 8).map { $0 * 0.3 })
        let bias = Tensor(shape: [o], data: values(o, seed: 9))
        var y = [Float](repeating: .nan, count: n * o * h * w)
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                bias.data.withUnsafeBufferPointer { bp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Winograd.conv3x3(xp.baseAddress!, n: n, c: c, h: h, w: w,
                                         weightRows: { rows, body in body(wp.baseAddress! + rows.lowerBound * c * 9) }, o: o,
                                         bias: bp.baseAddress!, out: yp.baseAddress!, filterBlockFloats: filterBlockFloats,
                                         chunkRows: chunkRows, blockTiles: blockTiles, fusedChannels: fusedChannels,
                                         filterCache: filterCache)
                    }
                }
            }
        }
        return (y, reference(x, weight, bias, stride: 1, pad: 1))
    }
}

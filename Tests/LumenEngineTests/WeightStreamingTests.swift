import Foundation
@testable import LumenTensor
import Testing

/// The weight-streaming convolution (`WeightStreaming`, AVX512-BF16 in C) for layers with at
/// most 16 output pixels: against the fp32 convolution of the same bf16-stored weights (bf16
/// precision), and against oneDNN's bf16 convolution (the same rounded operands, so only the
/// order of fp32 sums differs).
@Suite(.enabled(if: WeightStreaming.available, "needs a CPU with AVX512-BF16"))
struct WeightStreamingTests {
    /// (kernel, stride, padding, batch, input size, input channels, outputs, bias): the UNet's
    /// 3×3 at 4×4, a stride-2 downsampler onto 4×4 with VAE-style asymmetric padding, a 1×1 over
    /// a batch of two 2×3 images (12 pixels, with lanes to spare), and an odd reduction length.
    static let cases: [(Int, Int, NN.Padding, Int, Int, Int, Int, Bool)] = [
        (3, 1, .same(1), 1, 4, 24, 48, true),
        (3, 2, NN.Padding(top: 0, left: 0, bottom: 1, right: 1), 1, 8, 20, 32, false),
        (1, 1, .same(0), 2, 3, 40, 16, true),
        (1, 1, .same(0), 1, 4, 9, 16, true),
    ]

    @Test(arguments: 0..<cases.count) func convolutionMatchesFP32AndOneDNN(_ index: Int) {
        let (kernel, stride, padding, n, size, c, o, withBias) = Self.cases[index]
        let (h, w) = (size, size == 3 ? 2 : size)
        let x = Tensor(shape: [n, c, h, w], data: ConvolutionTests.values(n * c * h * w, seed: 11))
        let bits = ConvolutionTests.values(o * c * kernel * kernel, seed: 12).map { BF16Matmul.bfloat16(bits: ($0 * 0.3).bitPattern) }
        let weight = WeightTensor(shape: [o, c, kernel, kernel], storage: .bfloat16(bits))
        let bias = withBias ? Tensor(shape: [o], data: ConvolutionTests.values(o, seed: 13)) : nil
        func conv() -> Tensor { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        let fp32 = WeightStreaming.$forced.withValue(false) { BF16Matmul.$forced.withValue(false) { conv() } }
        let streamed = WeightStreaming.$forced.withValue(true) { conv() }
        #expect(weight.blockedFilters.isFilled, "the streaming kernel did not run")
        #expect(streamed.shape == fp32.shape)
        let scale = rootMeanSquare(fp32.data.map(Double.init))
        let relative = rootMeanSquare(zip(streamed.data, fp32.data).map { Double($0) - Double($1) }) / scale
        #expect(relative > 0 && relative <= 0.01, "relative RMS error against fp32 \(relative)")
        // The packed filters replaced the plain elements; asking for them gives the stored bits.
        guard case let .bfloat16(box) = weight.elements else { Issue.record("not kept in bf16"); return }
        #expect(!box.holdsPlain, "the plain elements were kept beside the packed filters")
        guard case let .bfloat16(rebuilt) = weight.storage else { Issue.record("storage changed precision"); return }
        #expect(rebuilt == bits)
        // oneDNN (its filters reordered per call, the cache holding ours) on the same operands.
        if c >= 8 {
            let oneDNN = WeightStreaming.$forced.withValue(false) { BF16Matmul.$forced.withValue(true) { conv() } }
            let worst = zip(streamed.data, oneDNN.data).map { abs(Double($0) - Double($1)) }.max() ?? .nan
            #expect(worst <= 1e-5 * scale, "worst difference from oneDNN \(worst) at scale \(scale)")
        }
        // The fp32 path reads the gathered elements, and the kernel's next call gives the same.
        let fp32Again = WeightStreaming.$forced.withValue(false) { BF16Matmul.$forced.withValue(false) { conv() } }
        #expect(fp32Again.data == fp32.data)
        let again = WeightStreaming.$forced.withValue(true) { conv() }
        #expect(again.data == streamed.data)
        #expect(!box.holdsPlain)
    }

    /// `pack` and `unpack` are inverses, an odd row length padded with zeros.
    @Test func packingRoundTrips() {
        for k in [1, 6, 7] {
            let src = (0..<(32 * k)).map { UInt16($0 &* 7 &+ 3) }
            let kpairs = (k + 1) / 2
            var packed = [UInt16](repeating: 0xFFFF, count: 2 * kpairs * 32)
            var back = [UInt16](repeating: 0, count: src.count)
            src.withUnsafeBufferPointer { s in
                packed.withUnsafeMutableBufferPointer { p in
                    for block in 0..<2 { WeightStreaming.pack(s.baseAddress!, k: k, block: block, into: p.baseAddress!) }
                }
            }
            packed.withUnsafeBufferPointer { p in
                back.withUnsafeMutableBufferPointer { b in
                    for block in 0..<2 { WeightStreaming.unpack(p.baseAddress!, k: k, block: block, into: b.baseAddress!) }
                }
            }
            #expect(back == src, "k \(k)")
            // Output j of block 0, inputs 0 and 1, sit side by side in the first line.
            #expect(packed[2] == src[k] && (k == 1 || packed[3] == src[k + 1]))
            if k % 2 == 1 { #expect(packed[(kpairs - 1) * 32 + 1] == 0) }
        }
    }
}

/// The flash-attention kernel (`NN.attentionFlash`, AVX512-BF16 in C) against fp32 attention on
/// 64-wide heads: keys padded up to a multiple of 64 (77, 70), several 512-key chunks with scores
/// that grow along the keys (so the running maximum and its rescaling matter), causal masks,
/// query tiles that do not divide by six, two images, and Q/K/V read from a fused projection.
@Suite(.enabled(if: NN.flashAvailable, "needs a CPU with AVX512-BF16"))
struct FlashAttentionTests {
    /// (batch, queries, keys, heads, causal, score growth)
    @Test(arguments: [(2, 150, 70, 2, false, 0.0), (1, 77, 77, 3, true, 0.0), (1, 301, 1100, 1, false, 3.0),
                      (2, 64, 64, 2, false, 0.0), (1, 600, 600, 2, true, 2.0)])
    func flashMatchesFP32(b: Int, lq: Int, lk: Int, heads: Int, causal: Bool, growth: Double) {
        let dim = heads * 64
        func tensor(_ shape: [Int], _ f: Double, grow: Double = 0) -> Tensor {
            let rowLength = shape[2]
            return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { i in
                Float(sin(Double(i) * f) * (1 + grow * Double(i / rowLength % shape[1]) / Double(shape[1])))
            })
        }
        // With growth, queries 1 + 2·growth times larger too: scores of several units in base 2,
        // so a chunk whose maximum is not rescaled shows.
        let q = tensor([b, lq, dim], 0.31) * Float(1 + 2 * growth), k = tensor([b, lk, dim], 0.17, grow: growth)
        let v = tensor([b, lk, dim], 0.23)
        let reference = BF16Matmul.$forced.withValue(false) { NN.attention(q: q, k: k, v: v, heads: heads, causal: causal) }
        #expect(BF16Matmul.$forced.withValue(true) { NN.flashApplies(headWidth: 64) })
        let flash = BF16Matmul.$forced.withValue(true) { NN.attention(q: q, k: k, v: v, heads: heads, causal: causal) }
        let worst = zip(reference.data, flash.data).map { abs($0 - $1) }.max() ?? .nan
        // Values are O(1) and outputs their weighted means: bf16's 2⁻⁸ relative rounding of Q, K,
        // V and the probabilities leaves a few 1e-3 (the oneDNN bf16 form's test allows 0.03).
        #expect(worst > 0, "the flash kernel did not run")
        #expect(worst <= 0.01, "worst error \(worst)")
        if lq == lk {
            // The same operands read in place from one fused [q | k | v] projection.
            var fusedData = [Float](repeating: 0, count: b * lq * 3 * dim)
            for row in 0..<(b * lq) {
                for (part, t) in [q, k, v].enumerated() {
                    for c in 0..<dim { fusedData[row * 3 * dim + part * dim + c] = t.data[row * dim + c] }
                }
            }
            let fused = BF16Matmul.$forced.withValue(true) {
                NN.attention(qkv: Tensor(shape: [b, lq, 3 * dim], data: fusedData), heads: heads, causal: causal)
            }
            #expect(fused.data == flash.data)
        }
    }
}

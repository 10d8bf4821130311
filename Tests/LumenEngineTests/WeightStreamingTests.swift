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
            // Output 1's inputs 0 and 1 sit side by side after output 0's in the first line.
            #expect(packed[2] == src[k] && (k == 1 || packed[3] == src[k + 1]))
            if k % 2 == 1 { #expect(packed[(kpairs - 1) * 32 + 1] == 0) }
        }
    }
}

import Foundation
@testable import LumenTensor
import Testing

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

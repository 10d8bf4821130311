import Foundation
@testable import LumenTensor
import Testing

/// `NN.attention` against scaled dot-product attention in double precision: several query-row
/// tiles per head over 2100 keys (scores growing along the keys), the causal mask, cross-attention
/// with few keys, and batches.
@Suite struct AttentionTests {
    static func reference(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool) -> [Double] {
        let (b, lq, dim) = (q.shape[0], q.shape[1], q.shape[2])
        let lk = k.shape[1], dh = dim / heads
        let scale = 1 / Double(dh).squareRoot()
        var out = [Double](repeating: 0, count: b * lq * dim)
        for bi in 0..<b { for h in 0..<heads { for i in 0..<lq {
            var scores = [Double](repeating: -.infinity, count: lk)
            for j in 0..<lk where !causal || j <= i {
                var dot = 0.0
                for d in 0..<dh { dot += Double(q.data[(bi * lq + i) * dim + h * dh + d]) * Double(k.data[(bi * lk + j) * dim + h * dh + d]) }
                scores[j] = dot * scale
            }
            let m = scores.max()!
            let e = scores.map { Foundation.exp($0 - m) }
            let sum = e.reduce(0, +)
            for d in 0..<dh {
                var acc = 0.0
                for j in 0..<lk { acc += e[j] * Double(v.data[(bi * lk + j) * dim + h * dh + d]) }
                out[(bi * lq + i) * dim + h * dh + d] = acc / sum
            }
        } } }
        return out
    }

    @Test(arguments: [
        // (batch, query rows, keys, heads, head size, causal)
        (1, 300, 2100, 2, 8, false),  // 3 query tiles of ≤ 124 rows
        (2, 77, 77, 4, 8, true),      // CLIP's causal self-attention
        (2, 40, 7, 3, 16, false),     // cross-attention to a few tokens
        (1, 301, 64, 5, 8, false),    // five heads split to ten tasks of 151 and 150 rows
    ])
    func matchesReference(_ p: (Int, Int, Int, Int, Int, Bool)) {
        let (b, lq, lk, heads, dh, causal) = p
        let dim = heads * dh
        let q = Tensor(shape: [b, lq, dim], data: ConvolutionTests.values(b * lq * dim, seed: 11))
        // Keys grow along the sequence, so later chunks raise each row's running maximum.
        var keys = ConvolutionTests.values(b * lk * dim, seed: 12)
        for i in keys.indices { keys[i] *= 1 + 3 * Float((i / dim) % lk) / Float(lk) }
        let k = Tensor(shape: [b, lk, dim], data: keys)
        let v = Tensor(shape: [b, lk, dim], data: ConvolutionTests.values(b * lk * dim, seed: 13))
        let y = NN.attention(q: q, k: k, v: v, heads: heads, causal: causal)
        let ref = Self.reference(q: q, k: k, v: v, heads: heads, causal: causal)
        let worst = zip(y.data, ref).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(y.shape == [b, lq, dim])
        #expect(worst <= 2e-5, "max error \(worst)")
    }

    /// Self-attention read in place from a fused `[q | k | v]` projection equals attention on the
    /// three separate tensors, in fp32 and with bf16 products.
    @Test(arguments: [false, true]) func fusedProjectionMatchesSeparateTensors(bf16: Bool) {
        let (b, l, heads, dh) = (2, 37, 3, 8)
        let dim = heads * dh
        let qkv = Tensor(shape: [b, l, 3 * dim], data: ConvolutionTests.values(b * l * 3 * dim, seed: 21))
        func part(_ i: Int) -> Tensor {
            Tensor(shape: [b, l, dim], data: (0..<(b * l)).flatMap { r in qkv.data[(r * 3 + i) * dim..<(r * 3 + i + 1) * dim] })
        }
        BF16Matmul.$forced.withValue(bf16) {
            let fused = NN.attention(qkv: qkv, heads: heads, causal: true)
            let separate = NN.attention(q: part(0), k: part(1), v: part(2), heads: heads, causal: true)
            #expect(fused.shape == [b, l, dim])
            let worst = zip(fused.data, separate.data).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-6, "max difference \(worst)")
        }
    }

    /// Rows per task: the cache budget's tile, split further only while the tasks are too few
    /// to share evenly between the cores.
    @Test func tileRowsBalanceTheCores() {
        let budgetRows = NN.attentionTileFloats / 1024
        // SD's 32×32 level, one picture: five 1024-row heads would leave one core three tasks.
        #expect(NN.attentionTileRows(b: 1, heads: 5, lq: 1024, lk: 1024, threads: 2) == Swift.min(1024, budgetRows) / 2)
        // Already even (two pictures), or many tasks: the budget's tile stands.
        #expect(NN.attentionTileRows(b: 2, heads: 5, lq: 1024, lk: 1024, threads: 2) == Swift.min(1024, budgetRows))
        #expect(NN.attentionTileRows(b: 1, heads: 5, lq: 4096, lk: 4096, threads: 2) == NN.attentionTileFloats / 4096)
        // One core: nothing to balance. Three cores: five heads → fifteen tasks.
        #expect(NN.attentionTileRows(b: 1, heads: 5, lq: 77, lk: 77, threads: 1) == 77)
        #expect(NN.attentionTileRows(b: 1, heads: 5, lq: 77, lk: 77, threads: 3) == 26)
    }
}

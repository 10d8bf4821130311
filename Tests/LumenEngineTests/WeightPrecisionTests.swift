import Foundation
@testable import LumenTensor
import LumenWeights
import Testing

/// Weights kept at their stored 16-bit precision (`WeightTensor`) give the same layer outputs as
/// the same weights widened to fp32 at load, on every blocking path of `NN.linear` and
/// `NN.conv2d` (row × column blocks split over the cores for few-column inputs, blocks of whole
/// rows with threaded GEMMs for many columns, whole filters for Winograd and the direct kernel),
/// and the safetensors loader keeps fp16/bf16 as stored.
@Suite struct WeightPrecisionTests {
    /// fp16-representable weights (so the fp32 reference is the exact widened value).
    static func halfWeight(_ shape: [Int], seed: UInt64) -> (half: WeightTensor, float: Tensor) {
        let halves = ConvolutionTests.values(shape.reduce(1, *), seed: seed).map { Float16($0 * 0.2) }
        return (WeightTensor(shape: shape, storage: .float16(halves)), Tensor(shape: shape, data: halves.map { Float($0) }))
    }

    static func worstRelative(_ a: Tensor, _ b: Tensor) -> Double {
        let scale = Double(b.data.map(abs).max() ?? 1)
        return Double(zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0) / Swift.max(scale, 1e-12)
    }

    @Test(arguments: [
        // (rows m, in k, out n): a tiny layer; few rows split over the cores with several row
        // and column blocks per core; many rows with threaded GEMMs over one and over two
        // blocks of whole weight rows (n·k > 4 Mi floats).
        (3, 40, 24), (77, 1024, 600), (700, 640, 520), (600, 2048, 2100),
    ])
    func linearMatchesWidenedWeights(_ p: (Int, Int, Int)) {
        let (m, k, n) = p
        let (half, float) = Self.halfWeight([n, k], seed: 5)
        let x = Tensor(shape: [m, k], data: ConvolutionTests.values(m * k, seed: 6))
        let bias = Tensor(shape: [n], data: ConvolutionTests.values(n, seed: 7))
        let y16 = NN.linear(x, weight: half, bias: bias)
        let y32 = NN.linear(x, weight: float, bias: bias)
        #expect(y16.shape == [m, n])
        #expect(Self.worstRelative(y16, y32) <= 1e-5)
        let noBias = NN.linear(x, weight: half, bias: nil)
        #expect(Self.worstRelative(noBias, NN.linear(x, weight: float, bias: nil)) <= 1e-5)
    }

    @Test(arguments: [
        // (n, c, o, size, kernel): im2col with few columns (split path, 8×8 and 4×4 pictures, up
        // to 12 column blocks), im2col with many columns (threaded), 1×1, Winograd, direct head.
        (2, 640, 80, 8, 3), (1, 512, 96, 24, 3), (1, 40, 700, 4, 3), (1, 96, 64, 16, 1), (1, 16, 16, 64, 3), (1, 32, 3, 12, 3),
    ])
    func convolutionMatchesWidenedWeights(_ p: (Int, Int, Int, Int, Int)) {
        let (n, c, o, size, k) = p
        let (half, float) = Self.halfWeight([o, c, k, k], seed: 8)
        let x = Tensor(shape: [n, c, size, size], data: ConvolutionTests.values(n * c * size * size, seed: 9))
        let bias = Tensor(shape: [o], data: ConvolutionTests.values(o, seed: 10))
        let pad = k / 2
        let y16 = NN.conv2d(x, weight: half, bias: bias, padding: .same(pad))
        let y32 = NN.conv2d(x, weight: float, bias: bias, padding: .same(pad))
        #expect(y16.shape == y32.shape)
        #expect(Self.worstRelative(y16, y32) <= 1e-5)
    }

    /// A linear layer with a bf16 weight and a few input rows (the UNet's timestep embedding)
    /// reads the weight straight from bf16: exact products summed in fp32, so it matches the
    /// double-precision product of the same bf16 values closely, also past the last whole run of
    /// 32 columns and for several rows.
    @Test(arguments: [(1, 72, 40), (3, 64, 33), (8, 31, 9), (2, 1280, 70)]) func fewRowsReadBF16WeightsDirectly(_ p: (Int, Int, Int)) {
        let (m, k, n) = p
        let bits = (0..<(n * k)).map { BF16Matmul.bfloat16(bits: Float(sin(Double($0) * 0.19)).bitPattern) }
        let weight = WeightTensor(shape: [n, k], storage: .bfloat16(bits))
        let x = Tensor(shape: [m, k], data: (0..<(m * k)).map { Float(cos(Double($0) * 0.07)) })
        let bias = Tensor(shape: [n], data: (0..<n).map { Float($0) * 0.01 })
        let y = NN.linear(x, weight: weight, bias: bias)
        #expect(y.shape == [m, n])
        for i in 0..<m {
            for r in 0..<n {
                var sum = Double(bias.data[r])
                for j in 0..<k { sum += Double(Float(bitPattern: UInt32(bits[r * k + j]) << 16)) * Double(x.data[i * k + j]) }
                #expect(abs(Double(y.data[i * n + r]) - sum) <= 1e-5 * Swift.max(1, abs(sum)), "row \(i), output \(r)")
            }
        }
    }

    @Test func blocksWidenExactly() {
        let bits: [UInt16] = [0x3F80, 0xC000, 0x0000, 0x7F80, 0x4049, 0xBF00]  // 1, −2, 0, +inf, 3.140625, −0.5
        let bf = WeightTensor(shape: [2, 3], storage: .bfloat16(bits))
        #expect(bf.floatTensor.data == [1, -2, 0, .infinity, 3.140625, -0.5])
        let halves: [Float16] = [1, -2, 0.5, 65504, -0.000_061_035_156_25, 3]
        let h = WeightTensor(shape: [3, 2], storage: .float16(halves))
        let block = h.withFloatBlock(rows: 1..<3, columns: 1..<2, parallel: false) { p, ld in (0..<2).map { p[$0 * ld] } }
        #expect(block == [65504, 3])
        #expect(h.floatTensor.data == halves.map { Float($0) })
    }

    @Test func loaderKeepsStoredPrecision() throws {
        // F16 [2, 2] = 1, 2, −1, 0.5; F32 [2] = 3, 4
        var data: [UInt8] = [0x00, 0x3C, 0x00, 0x40, 0x00, 0xBC, 0x00, 0x38]
        for v in [Float(3), 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let header = #"{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        let store = WeightStore(component: "test", files: [try SafetensorsFile(path: try SafetensorsTests.write(header: header, data: data))])
        let w = store.weight("w", shape: [2, 2])
        if WeightStore.keepsStoredPrecision {
            guard case .float16 = w.storage else { Issue.record("fp16 weight was widened at load"); return }
        }
        #expect(w.floatTensor.data == [1, 2, -1, 0.5])
        #expect(store.weight("b", shape: [2]).float32 == [3, 4])
        _ = store.weight("missing", shape: [3])
        #expect(throws: WeightLoadError.self) { try store.finish() }
    }

    /// A lookup table read in place from the file (CLIP's token embedding) gives the rows the
    /// copied-out weight gives, for each stored element type, and counts as used.
    @Test func mappedWeightsReadRowsInPlace() throws {
        // F16 [3, 2] = 1, 2, −1, 0.5, 4, −8 (the header's odd length leaves the data unaligned);
        // BF16 [2, 2] = 1, −2, 0, 3.140625; F32 [2, 1] = 3, 4.
        var data: [UInt8] = [0x00, 0x3C, 0x00, 0x40, 0x00, 0xBC, 0x00, 0x38, 0x00, 0x44, 0x00, 0xC8]
        data += [0x80, 0x3F, 0x00, 0xC0, 0x00, 0x00, 0x49, 0x40]
        for v in [Float(3), 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        let header = #"{"h":{"dtype":"F16","shape":[3,2],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[12,20]},"# +
            #""f":{"dtype":"F32","shape":[2,1],"data_offsets":[20,28]} }"#
        let file = try SafetensorsFile(path: try SafetensorsTests.write(header: header, data: data))
        let store = WeightStore(component: "test", files: [file])
        for (name, shape, expected) in [("h", [3, 2], [Float(1), 2, -1, 0.5, 4, -8]), ("b", [2, 2], [1, -2, 0, 3.140625]), ("f", [2, 1], [3, 4])] {
            let mapped = store.mappedWeight(name, shape: shape)
            guard case .mapped = mapped.elements else { Issue.record("\(name) was copied out"); continue }
            #expect(mapped.floatTensor.data == expected, "\(name)")
            let row = mapped.withFloatBlock(rows: 1..<2, columns: 0..<shape[1], parallel: false) { p, _ in (0..<shape[1]).map { p[$0] } }
            #expect(row == Array(expected[shape[1]..<(2 * shape[1])]), "\(name)")
        }
        // A shape that does not match is reported as for any weight.
        _ = store.mappedWeight("h", shape: [2, 3])
        #expect(throws: WeightLoadError.self) { try store.finish() }
    }
}

import Foundation
import LumenPipelines
import LumenSchedulers
@testable import LumenTensor
import Testing

/// The bf16 product path (`BF16Matmul`, `LUMEN_BF16=1`) against fp32: issue 8 allows a
/// reduced-precision path only while the picture keeps PSNR ≥ 40 dB. Here every product of the
/// tiny test pipelines goes through bf16 (in real use only the large ones do), the worst case.
@Suite(.enabled(if: BF16Matmul.cpuHasAVX512BF16, "needs a CPU with AVX512-BF16"))
struct BF16MatmulTests {
    @Test func productsMatchFP32ToBF16Precision() {
        let (m, n, k) = (37, 53, 301)
        let a = (0..<(m * k)).map { Float(sin(Double($0) * 0.37)) }
        let b = (0..<(k * n)).map { Float(cos(Double($0) * 0.11)) }
        func product(forced: Bool) -> [Float] {
            var c = [Float](repeating: 0.5, count: m * n)
            BF16Matmul.$forced.withValue(forced) {
                BLAS.gemm(m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n, beta: 2, c: &c, ldc: n)
            }
            return c
        }
        let reference = product(forced: false), bf16 = product(forced: true)
        let scale = reference.map(abs).max() ?? 1
        let worst = zip(reference, bf16).map { abs($0 - $1) }.max() ?? 0
        #expect(worst > 0, "the bf16 path did not run")
        #expect(worst <= 0.02 * scale, "worst error \(worst) of \(scale)")
    }

    /// A linear weight kept in oneDNN's packed layout (`BF16Matmul.linearPacked`): the product
    /// equals the one from the plain bf16 weight, the plain elements are released for the packed
    /// ones, and gathered back exactly when another path reads them.
    @Test func packedLinearWeightsMatchPlainOnes() {
        let (m, n, k) = (24, 136, 72)  // n not a multiple of oneDNN's 16-column blocks
        let bits = (0..<(n * k)).map { BF16Matmul.bfloat16(fromHalf: Float16(sin(Double($0) * 0.13))) }
        let weight = WeightTensor(shape: [n, k], storage: .bfloat16(bits))
        let x = Tensor(shape: [2, m / 2, k], data: (0..<(m * k)).map { Float(cos(Double($0) * 0.29)) })
        let bias = Tensor(shape: [n], data: (0..<n).map { Float(sin(Double($0) * 0.7)) })
        var plain = [Float](repeating: .nan, count: m * n)
        let ran = BF16Matmul.$forced.withValue(true) {
            bits.withUnsafeBufferPointer { w in x.data.withUnsafeBufferPointer { a in bias.data.withUnsafeBufferPointer { b in
                BF16Matmul.gemm(transB: true, m: m, n: n, k: k, a: .float32(a.baseAddress!, ld: k), b: .bfloat16(w.baseAddress!, ld: k),
                                bias: b.baseAddress!, c: &plain, ldc: n)
            } } }
        }
        #expect(ran)
        let packed = BF16Matmul.$forced.withValue(true) { NN.linear(x, weight: weight, bias: bias) }
        #expect(weight.packedWeights.isFilled, "the packed path did not run")
        let scale = plain.map(abs).max() ?? 1
        let worst = zip(plain, packed.data).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-5 * scale, "worst error \(worst) of \(scale)")
        if case let .bfloat16(box) = weight.elements { #expect(!box.holdsPlain, "the plain elements were kept beside the packed ones") }
        guard case let .bfloat16(back) = weight.storage else {
            Issue.record("the weight is no longer bf16")
            return
        }
        let mismatches = zip(back, bits).filter { $0 != $1 }.count
        #expect(back.count == bits.count && mismatches == 0, "\(mismatches) elements gathered back wrong")
    }

    @Test(arguments: [false, true]) func attentionMatchesFP32ToBF16Precision(causal: Bool) throws {
        let (b, lq, lk, heads, dh) = (2, 150, causal ? 150 : 70, 3, 16)
        func tensor(_ shape: [Int], _ f: Double) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { Float(sin(Double($0) * f)) })
        }
        let q = tensor([b, lq, heads * dh], 0.31), k = tensor([b, lk, heads * dh], 0.17), v = tensor([b, lk, heads * dh], 0.23)
        let reference = BF16Matmul.$forced.withValue(false) { NN.attention(q: q, k: k, v: v, heads: heads, causal: causal) }
        let bf16 = BF16Matmul.$forced.withValue(true) { NN.attention(q: q, k: k, v: v, heads: heads, causal: causal) }
        let worst = zip(reference.data, bf16.data).map { abs($0 - $1) }.max() ?? 0
        #expect(worst > 0, "the bf16 path did not run")
        #expect(worst <= 0.03, "worst error \(worst)")
    }

    /// Weights kept in bf16 at load feed the products directly (linear with its bias passed to
    /// oneDNN, and the convolutions, which take `BF16Convolution` when forced); the fp32 path
    /// widens the same bf16 values exactly.
    @Test func bf16StoredWeightsMatchTheirFP32Widening() {
        func values(_ n: Int, _ f: Double) -> [Float] { (0..<n).map { Float(sin(Double($0) * f)) } }
        func bits(_ v: [Float]) -> [UInt16] { v.map { BF16Matmul.bfloat16(fromHalf: Float16($0)) } }
        let linearWeight = WeightTensor(shape: [40, 72], storage: .bfloat16(bits(values(40 * 72, 0.13))))
        let x = Tensor(shape: [2, 9, 72], data: values(2 * 9 * 72, 0.29))
        let bias = Tensor(shape: [40], data: values(40, 0.7))
        let convWeight = WeightTensor(shape: [24, 16, 3, 3], storage: .bfloat16(bits(values(24 * 16 * 9, 0.07))))
        let image = Tensor(shape: [2, 16, 12, 10], data: values(2 * 16 * 120, 0.41))
        let convBias = Tensor(shape: [24], data: values(24, 0.5))
        let single = Tensor(shape: [1, 16, 12, 10], data: values(16 * 120, 0.33))  // the banded, one-image path
        for op in [{ NN.linear(x, weight: linearWeight, bias: bias) },
                   { NN.conv2d(image, weight: convWeight, bias: convBias, stride: 2, padding: .same(1)) },
                   { NN.conv2d(image, weight: convWeight, bias: nil, stride: 1, padding: .same(1)) },
                   { NN.conv2d(single, weight: convWeight, bias: convBias, stride: 1, padding: .same(1)) }] {
            let reference = BF16Matmul.$forced.withValue(false) { op() }
            let bf16 = BF16Matmul.$forced.withValue(true) { op() }
            let scale = reference.data.map(abs).max() ?? 1
            let worst = zip(reference.data, bf16.data).map { abs($0 - $1) }.max() ?? 0
            #expect(worst > 0, "the bf16 path did not run")
            #expect(worst <= 0.02 * scale, "worst error \(worst) of \(scale)")
        }
    }

    /// Winograd in bf16 (both transforms write bf16 and the products read it unconverted), fused
    /// and chunked, against the direct convolution in double precision. F(4×4, 3×3) amplifies
    /// rounding: its transformed tiles reach 100× the inputs and the output transform weighs
    /// products by up to 64, so bf16 operands give about 10× a direct bf16 product's error (a
    /// float64 simulation, 128 channels of normal data: relative RMS 2.5·10⁻² against 2.4·10⁻³).
    /// The bounds hold that level; what it does to whole pictures is `picturesKeepPSNRAbove40dB`'s.
    @Test(arguments: [Winograd.fusedMaximumChannels, 0]) func winogradInBF16(fusedChannels: Int) {
        let fp32 = BF16Matmul.$forced.withValue(false) {
            ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels)
        }
        let bf16 = BF16Matmul.$forced.withValue(true) {
            ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels)
        }
        let scale = rootMeanSquare(bf16.reference)
        let relative = rootMeanSquare(zip(bf16.output, bf16.reference).map { Double($0) - $1 }) / scale
        let fp32Relative = rootMeanSquare(zip(fp32.output, fp32.reference).map { Double($0) - $1 }) / scale
        let worst = zip(bf16.output, bf16.reference).map { abs(Double($0) - $1) }.max() ?? .nan
        print("Winograd bf16 (fused channels \(fusedChannels)): relative RMS error \(relative), worst \(worst / scale) of the RMS; fp32 \(fp32Relative)")
        #expect(relative > 100 * fp32Relative, "the bf16 path did not run")
        #expect(relative <= 0.04, "relative RMS error \(relative)")
        #expect(worst <= 0.5 * scale, "worst error \(worst), RMS \(scale)")
    }

    /// Filters transformed once and kept with the weight give what the per-call transform gives,
    /// fused and chunked, on the call that fills the cache and on the calls that read it; without
    /// bf16 products nothing is cached.
    @Test(arguments: [Winograd.fusedMaximumChannels, 0]) func winogradCachedFiltersMatchThePerCallTransform(fusedChannels: Int) {
        let cache = DerivedWeightCache()
        let (perCall, filling, reading) = DerivedWeightCache.$budgetOverride.withValue(1 << 30) { BF16Matmul.$forced.withValue(true) {
            (ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels).output,
             ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels, filterCache: cache).output,
             ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels, filterCache: cache).output)
        } }
        #expect(cache.isFilled)
        #expect(filling == reading)
        let worst = zip(perCall, reading).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? .nan
        #expect(worst <= 1e-5, "cached filters differ from the per-call transform by \(worst)")
        let fp32Cache = DerivedWeightCache()
        _ = DerivedWeightCache.$budgetOverride.withValue(1 << 30) { BF16Matmul.$forced.withValue(false) {
            ConvolutionTests.winograd(n: 1, c: 24, o: 20, h: 17, w: 15, fusedChannels: fusedChannels, filterCache: fp32Cache)
        } }
        #expect(!fp32Cache.isFilled)
        // Within the default budget (none) nothing is kept, and the per-call transform serves.
        let unbudgeted = DerivedWeightCache()
        let withoutCache = DerivedWeightCache.$budgetOverride.withValue(0) { BF16Matmul.$forced.withValue(true) {
            ConvolutionTests.winograd(n: 2, c: 24, o: 20, h: 37, w: 45, fusedChannels: fusedChannels, filterCache: unbudgeted).output
        } }
        #expect(!unbudgeted.isFilled)
        #expect(withoutCache == perCall)
    }

    /// oneDNN's bf16 convolution (`BF16Convolution`) against the fp32 convolution of the same
    /// bf16-stored weights: 3×3 same, 3×3 stride 2 with the VAE encoder's asymmetric padding and
    /// 1×1, with and without bias, two images; the blocked filters end up cached with the weight.
    @Test(arguments: [(3, 1, NN.Padding.same(1), true), (3, 2, NN.Padding(top: 0, left: 0, bottom: 1, right: 1), false),
                      (1, 1, NN.Padding.same(0), true)])
    func convolutionMatchesFP32ToBF16Precision(kernel: Int, stride: Int, padding: NN.Padding, withBias: Bool) {
        let (n, c, o, h, w) = (2, 24, 40, 13, 11)
        let x = Tensor(shape: [n, c, h, w], data: ConvolutionTests.values(n * c * h * w, seed: 3))
        let bits = ConvolutionTests.values(o * c * kernel * kernel, seed: 4).map { BF16Matmul.bfloat16(bits: ($0 * 0.3).bitPattern) }
        let weight = WeightTensor(shape: [o, c, kernel, kernel], storage: .bfloat16(bits))
        let bias = withBias ? Tensor(shape: [o], data: ConvolutionTests.values(o, seed: 5)) : nil
        let fp32 = BF16Matmul.$forced.withValue(false) { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(!weight.blockedFilters.isFilled)
        let bf16 = BF16Matmul.$forced.withValue(true) { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(weight.blockedFilters.isFilled, "oneDNN's convolution did not run")
        #expect(bf16.shape == fp32.shape)
        let scale = rootMeanSquare(fp32.data.map(Double.init))
        let relative = rootMeanSquare(zip(bf16.data, fp32.data).map { Double($0) - Double($1) }) / scale
        #expect(relative > 0 && relative <= 0.01, "relative RMS error \(relative)")
        // The cached filters serve the next call unchanged.
        let again = BF16Matmul.$forced.withValue(true) { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(again.data == bf16.data)
        // They replaced the plain elements, which every other path gets back exactly (gathered
        // from the blocked layout), also when asked for inside parallel tasks, as the fp32
        // kernels ask: the stored bits, and the fp32 convolution of the first call.
        guard case let .bfloat16(box) = weight.elements else { Issue.record("not kept in bf16"); return }
        #expect(!box.holdsPlain, "the plain elements were kept beside the blocked filters")
        let rowLength = c * kernel * kernel
        let rowsMatch = UncheckedSendable(UnsafeMutablePointer<Bool>.allocate(capacity: o))
        defer { rowsMatch.value.deallocate() }
        parallelFor(o) { r in
            rowsMatch.value[r] = weight.withFloatBlock(rows: r..<(r + 1), columns: 0..<rowLength, parallel: false) { p, _ in
                (0..<rowLength).allSatisfy { p[$0].bitPattern == UInt32(bits[r * rowLength + $0]) << 16 }
            }
        }
        #expect((0..<o).allSatisfy { rowsMatch.value[$0] }, "rows gathered back inside tasks differ from the stored bits")
        guard case let .bfloat16(rebuilt) = weight.storage else { Issue.record("storage changed precision"); return }
        #expect(rebuilt == bits)
        let fp32Again = BF16Matmul.$forced.withValue(false) { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(fp32Again.data == fp32.data)
        // The next oneDNN call releases them again and still gives the same output.
        let third = BF16Matmul.$forced.withValue(true) { NN.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
        #expect(!box.holdsPlain)
        #expect(third.data == bf16.data)
    }

    /// An activation passed to `linear` runs inside oneDNN's product (an eltwise post-op) and
    /// gives what the same activation applied afterwards gives; without bf16 it is applied after.
    @Test(arguments: [NN.Activation.gelu, .quickGelu, .silu, .relu]) func linearFusesItsActivation(_ activation: NN.Activation) {
        func values(_ n: Int, _ f: Double) -> [Float] { (0..<n).map { Float(sin(Double($0) * f)) * 2 } }
        let weight = WeightTensor(shape: [48, 64], storage: .bfloat16(values(48 * 64, 0.13).map { BF16Matmul.bfloat16(bits: $0.bitPattern) }))
        let x = Tensor(shape: [1, 20, 64], data: values(20 * 64, 0.29))
        let bias = Tensor(shape: [48], data: values(48, 0.7))
        for forced in [true, false] {
            let (fused, separate) = BF16Matmul.$forced.withValue(forced) {
                (NN.linear(x, weight: weight, bias: bias, activation: activation),
                 activation.apply(NN.linear(x, weight: weight, bias: bias)))
            }
            let scale = separate.data.map(abs).max() ?? 1
            let worst = zip(fused.data, separate.data).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst <= 1e-5 * scale, "\(activation), bf16 \(forced): worst error \(worst) of \(scale)")
        }
    }

    /// A transformer's `proj_in` and `proj_out` read and write channel-major images directly in
    /// bf16 (`NN.linear(fromChannels:)`, `NN.linear(toChannels:residual:)`): the same as
    /// transposing into tokens, the product, transposing back and adding the residual. Without
    /// bf16 they decline and the caller takes that longer way.
    @Test func projectionsReadAndWriteChannelMajorImages() throws {
        func values(_ n: Int, _ f: Double) -> [Float] { (0..<n).map { Float(sin(Double($0) * f)) } }
        let (b, c, h, w, inner) = (2, 24, 5, 7, 40)
        let x = Tensor(shape: [b, c, h, w], data: values(b * c * h * w, 0.37))
        let projIn = WeightTensor(shape: [inner, c], storage: .bfloat16(values(inner * c, 0.11).map { BF16Matmul.bfloat16(bits: $0.bitPattern) }))
        let projOut = WeightTensor(shape: [c, inner], storage: .bfloat16(values(c * inner, 0.23).map { BF16Matmul.bfloat16(bits: $0.bitPattern) }))
        let biasIn = Tensor(shape: [inner], data: values(inner, 0.5)), biasOut = Tensor(shape: [c], data: values(c, 0.9))
        let tokens = x.reshaped([b, c, h * w]).transposedLast2()
        try BF16Matmul.$forced.withValue(true) {
            let seq = try #require(NN.linear(fromChannels: x, weight: projIn, bias: biasIn))
            let seqReference = NN.linear(tokens, weight: projIn, bias: biasIn)
            #expect(seq.shape == [b, h * w, inner])
            let scaleIn = seqReference.data.map(abs).max() ?? 1
            #expect(zip(seq.data, seqReference.data).allSatisfy { abs($0 - $1) <= 1e-5 * scaleIn })
            let y = try #require(NN.linear(toChannels: seqReference, weight: projOut, bias: biasOut, residual: x))
            var reference = NN.linear(seqReference, weight: projOut, bias: biasOut).transposedLast2().reshaped([b, c, h, w])
            reference += x
            #expect(y.shape == x.shape)
            let scaleOut = reference.data.map(abs).max() ?? 1
            #expect(zip(y.data, reference.data).allSatisfy { abs($0 - $1) <= 1e-5 * scaleOut })
        }
        BF16Matmul.$forced.withValue(false) {
            #expect(NN.linear(fromChannels: x, weight: projIn, bias: biasIn) == nil)
            #expect(NN.linear(toChannels: NN.linear(tokens, weight: projIn, bias: biasIn), weight: projOut, bias: biasOut, residual: x) == nil)
        }
    }

    /// With Winograd's filters not kept (the default budget is 0), a 3×3 layer both kernels can
    /// run goes to Winograd only with enough tiles to share its per-call filter transform, and to
    /// oneDNN's direct convolution below; kept filters bring Winograd back.
    @Test func winogradYieldsToDirectWithFewTilesUnlessItsFiltersAreKept() {
        DerivedWeightCache.$budgetOverride.withValue(0) {
            let empty = DerivedWeightCache()
            // 64×64 = 256 tiles of 4×4; 32×32 = 64, 128 with two images.
            #expect(Winograd.beatsDirect(n: 1, h: 64, w: 64, c: 640, o: 640, filterCache: empty) == (256 >= Winograd.minimumUncachedTiles))
            #expect(Winograd.beatsDirect(n: 2, h: 32, w: 32, c: 640, o: 640, filterCache: empty) == (128 >= Winograd.minimumUncachedTiles))
            // At the default threshold the guided pair at 32×32 takes Winograd and one picture stays direct.
            if getenvString("LUMEN_WINOGRAD_UNCACHED_TILES") == nil {
                #expect(Winograd.beatsDirect(n: 2, h: 32, w: 32, c: 640, o: 640, filterCache: empty))
                #expect(!Winograd.beatsDirect(n: 1, h: 32, w: 32, c: 640, o: 640, filterCache: empty))
            }
            let kept = DerivedWeightCache()
            _ = kept.form(bytes: 64, budgeted: false) { _ in true }
            #expect(Winograd.beatsDirect(n: 1, h: 32, w: 32, c: 640, o: 640, filterCache: kept))
        }
        // Room in the budget for the filters: Winograd keeps them and wins.
        BF16Matmul.$forced.withValue(true) {
            DerivedWeightCache.$budgetOverride.withValue(1 << 30) {
                #expect(Winograd.beatsDirect(n: 1, h: 32, w: 32, c: 640, o: 640, filterCache: DerivedWeightCache()))
            }
        }
    }

    @Test(arguments: ["sd1", "sd2"]) func picturesKeepPSNRAbove40dB(kind: String) throws {
        let pipeline = try PipelineLoader.load(path: Fixtures.path("tiny-\(kind)"))
        var r = GenerationRequest(prompt: "a red cube on grass at sunset")
        r.steps = 4
        r.guidanceScale = 5
        r.seed = 11
        r.scheduler = .euler
        let fp32 = BF16Matmul.$forced.withValue(false) { try? pipeline.generate(r) }
        let bf16 = BF16Matmul.$forced.withValue(true) { try? pipeline.generate(r) }
        let a = try #require(fp32?.first), b = try #require(bf16?.first)
        let psnr = b.psnr(against: a)
        print("bf16 vs fp32, tiny-\(kind): PSNR \(psnr) dB")  // the figure the notes quote
        #expect(a != b, "the bf16 path did not run")
        #expect(psnr >= 40, "PSNR \(psnr) dB")
    }
}

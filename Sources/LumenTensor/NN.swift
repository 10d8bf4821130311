import CLumenKernels
import Foundation

// Neural-network kernels on fp32 tensors: linear layers, convolution, normalisation, softmax
// and multi-head attention. Matrix products go through `BLAS.gemm`; the rest is plain Swift
// loops compiled with `-Ounchecked`, parallelised over independent rows or channels.

public enum NN {
    /// `torch.nn.functional.linear`: `x[..., K] · Wᵀ + b` with `weight` of shape `[N, K]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        linear(x, weight: WeightTensor(weight), bias: bias)
    }

    /// Sets each of `rows` rows of `out` to `bias` (GEMMs then add into it with beta = 1).
    static func fillRows(_ out: UnsafeMutablePointer<Float>, rows: Int, with bias: Tensor) {
        bias.data.withUnsafeBufferPointer { b in
            for row in 0..<rows { (out + row * b.count).update(from: b.baseAddress!, count: b.count) }
        }
    }

    /// `linear` with a weight kept in its stored precision (`WeightTensor`).
    ///
    /// An fp32 weight is one threaded GEMM. A 16-bit weight is multiplied in blocks widened just
    /// before use (`widenedGEMM`), so every weight element is widened once and read from cache —
    /// for few-row inputs (the text encoder's 77 tokens) that is half the memory traffic of an
    /// fp32 weight.
    public static func linear(_ x: Tensor, weight: WeightTensor, bias: Tensor?) -> Tensor {
        linear(x, weight: weight, bias: bias, activation: nil)
    }

    /// An activation a product can apply to its results as they are written (`linear`'s
    /// `activation`).
    public enum Activation: Sendable, Hashable {
        case gelu, quickGelu, silu, relu

        /// The activation applied to a whole tensor, for the paths that cannot fuse it.
        func apply(_ x: Tensor) -> Tensor {
            switch self {
            case .gelu: x.gelu()
            case .quickGelu: x.quickGelu()
            case .silu: x.silu()
            case .relu: x.relu()
            }
        }
    }

    /// `activation(linear(x))`. In bf16 the activation runs inside oneDNN's product as it writes
    /// each result (an eltwise post-op), so the output is not read and written again: the
    /// text encoder's exact GELU over 77 × 4096 values per layer cost 12 ms per prompt as its
    /// own pass (23 layers, kernel profiler). Elsewhere it is applied after the product.
    public static func linear(_ x: Tensor, weight: WeightTensor, bias: Tensor?, activation: Activation?) -> Tensor {
        let k = weight.rowLength, n = weight.rows
        precondition(x.shape.last == k, "linear: input \(x.shape) vs weight \(weight.shape)")
        let m = x.count / k
        var outShape = x.shape
        outShape[outShape.count - 1] = n
        var fused = false
        let product = OpProfiler.measure("linear \(k)→\(n) ×\(m)\(weight.float32 == nil ? " (16-bit)" : "")") { Tensor(uninitializedShape: outShape) { o in
            let out = o.baseAddress!
            x.data.withUnsafeBufferPointer { xp in
                if m <= fewRowsMaximum, withBF16Weight(weight, { w in
                    withBiasPointer(bias) { fewRowsProduct(xp.baseAddress!, m: m, k: k, weight: w, n: n, bias: $0, out: out) }
                    return true
                }) { return }
                // In bf16 the bias goes to oneDNN with the product (no fill pass, no sum post-op
                // reading C back): 77×1024×1024 0.53 → 0.50 ms in the C harness. The weight is
                // kept in oneDNN's packed layout (`BF16Matmul.linearPacked`) where it can be.
                let packed = withBiasPointer(bias) { b in
                    BF16Matmul.linearPacked(m: m, n: n, k: k, a: xp.baseAddress!, weight: weight, bias: b, activation: activation, c: out)
                }
                if packed {
                    fused = true
                    return
                }
                if withBF16Weight(weight, { w in
                    withBiasPointer(bias) { b in
                        BF16Matmul.gemm(transB: true, m: m, n: n, k: k, a: .float32(xp.baseAddress!, ld: k), b: .bfloat16(w, ld: k),
                                        bias: b, activation: activation, c: out, ldc: n)
                    }
                }) {
                    fused = true
                    return
                }
                if let bias { fillRows(out, rows: m, with: bias) }
                widenedGEMM(weight, columns: m, threadedAbove: widenedThreadedColumns) { w, ldw, r, kr, first in
                    BLAS.gemm(transB: true, m: m, n: r.count, k: kr.count, a: xp.baseAddress! + kr.lowerBound, lda: k,
                              b: w, ldb: ldw, beta: bias == nil && first ? 0 : 1, c: out + r.lowerBound, ldc: n)
                }
            }
        } }
        guard let activation, !fused else { return product }
        return activation.apply(product)
    }

    /// `linear(tokens(x))` for an NCHW `x`, where `tokens` is `x.permute(0, 2, 3, 1)` as
    /// `[B, HW, C]`: a transformer's `proj_in` with a linear projection (SD 2). The product reads
    /// `x` transposed, so no token copy is made. Nil (nothing done) unless the weight is bf16
    /// and the product runs in bf16; the caller then transposes and calls `linear`.
    public static func linear(fromChannels x: Tensor, weight: WeightTensor, bias: Tensor?) -> Tensor? {
        let (b, c, hw) = (x.shape[0], x.shape[1], x.count / (x.shape[0] * x.shape[1]))
        let n = weight.rows
        precondition(weight.rowLength == c, "linear: input \(x.shape) vs weight \(weight.shape)")
        var done = false
        let result = OpProfiler.measure("linear \(c)→\(n) ×\(b * hw) (from channels)") { Tensor(uninitializedShape: [b, hw, n]) { o in
            x.data.withUnsafeBufferPointer { xp in
                done = withBF16Weight(weight) { w in
                    withBiasPointer(bias) { bp in
                        (0..<b).allSatisfy { i in
                            BF16Matmul.gemm(transA: true, transB: true, m: hw, n: n, k: c, a: .float32(xp.baseAddress! + i * c * hw, ld: hw),
                                            b: .bfloat16(w, ld: c), bias: bp, c: o.baseAddress! + i * hw * n, ldc: n)
                        }
                    }
                }
            }
        } }
        return done ? result : nil
    }

    /// `residual + image(linear(tokens))`, where `image` turns `[B, HW, n]` back into NCHW of
    /// `residual`'s shape: a transformer's `proj_out` with a linear projection and its residual
    /// (SD 2). The product writes channel-major (`W · tokensᵀ`) onto `residual + bias`, so the
    /// transpose and the residual's own pass go. Nil (nothing done) unless it runs in bf16.
    public static func linear(toChannels tokens: Tensor, weight: WeightTensor, bias: Tensor?, residual: Tensor) -> Tensor? {
        let (b, hw, k) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let n = weight.rows
        precondition(weight.rowLength == k && residual.count == b * n * hw, "linear: input \(tokens.shape) vs weight \(weight.shape)")
        guard weight.withBF16Elements({ _ in true }) == true, BF16Matmul.worthIt(m: n, n: hw, k: k, weightInBF16: true) else { return nil }
        var done = false
        let result = OpProfiler.measure("linear \(k)→\(n) ×\(b * hw) (to channels)") { Tensor(uninitializedShape: residual.shape) { o in
            let out = o.baseAddress!
            residual.data.withUnsafeBufferPointer { rp in
                let biasValues = bias?.data
                let pointers = UncheckedSendable((UnsafeRawPointer(rp.baseAddress!), UnsafeMutableRawPointer(out)))
                parallelFor(b * n) { row in
                    let (r, d) = pointers.value
                    let src = r.assumingMemoryBound(to: Float.self) + row * hw, dst = d.assumingMemoryBound(to: Float.self) + row * hw
                    let add = biasValues?[row % n] ?? 0
                    for i in 0..<hw { dst[i] = src[i] + add }
                }
            }
            tokens.data.withUnsafeBufferPointer { tp in
                done = withBF16Weight(weight) { w in
                    (0..<b).allSatisfy { i in
                        BF16Matmul.gemm(transB: true, m: n, n: hw, k: k, a: .bfloat16(w, ld: k), b: .float32(tp.baseAddress! + i * hw * k, ld: k),
                                        beta: 1, c: out + i * n * hw, ldc: hw)
                    }
                }
            }
        } }
        return done ? result : nil
    }

    /// Input rows up to which a linear layer with a bf16 weight runs `fewRowsProduct`.
    static let fewRowsMaximum = 8

    /// `out = x · Wᵀ + bias` for a few rows of `x` (`m` ≤ `fewRowsMaximum`) and a bf16 weight
    /// `[n, k]`, reading the weight once, straight from bf16: the UNet's timestep-embedding
    /// projections (one row per image). Such a product is bound by reading the weight; the GEMM
    /// path widened it into fp32 blocks first and ran at ~3 GB/s (1.2 ms for 1280→1280, 13 of
    /// them per UNet call). Each 64-byte load holds 32 weights; as 16 words, a shift gives the
    /// even ones and a mask the odd ones as fp32 (bf16 is fp32's high half), which multiply the
    /// even and odd entries of `x`, split once per call. Accumulation is fp32, products exact.
    static func fewRowsProduct(_ x: UnsafePointer<Float>, m: Int, k: Int, weight w: UnsafePointer<UInt16>, n: Int,
                               bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        typealias F16 = SIMD16<Float>
        let vectorK = k / 32 * 32
        // x split into even and odd entries, 16 of each per 32 columns: [m][vectorK / 2] each.
        var even = [Float](repeating: 0, count: m * vectorK / 2), odd = even
        for i in 0..<m {
            for j in 0..<vectorK / 2 {
                even[i * vectorK / 2 + j] = x[i * k + 2 * j]
                odd[i * vectorK / 2 + j] = x[i * k + 2 * j + 1]
            }
        }
        let split = UncheckedSendable((even, odd, UnsafeRawPointer(x), UnsafeRawPointer(w), bias.map { UnsafeRawPointer($0) },
                                       UnsafeMutableRawPointer(out)))
        parallelChunks(n, minChunk: 64) { rows in
            let (even, odd, xRaw, wRaw, biasRaw, outRaw) = split.value
            let x = xRaw.assumingMemoryBound(to: Float.self), w = wRaw.assumingMemoryBound(to: UInt16.self)
            let out = outRaw.assumingMemoryBound(to: Float.self), bias = biasRaw?.assumingMemoryBound(to: Float.self)
            even.withUnsafeBufferPointer { ep in odd.withUnsafeBufferPointer { op in
                for r in rows {
                    let row = w + r * k
                    for i in 0..<m {
                        var accE = F16(), accO = F16()
                        let xe = ep.baseAddress! + i * vectorK / 2, xo = op.baseAddress! + i * vectorK / 2
                        var j = 0
                        while j < vectorK {
                            let words = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD16<UInt32>.self)
                            let lo = unsafeBitCast(words &<< 16, to: F16.self), hi = unsafeBitCast(words & 0xFFFF_0000, to: F16.self)
                            accE.addProduct(lo, UnsafeRawPointer(xe + j / 2).loadUnaligned(as: F16.self))
                            accO.addProduct(hi, UnsafeRawPointer(xo + j / 2).loadUnaligned(as: F16.self))
                            j += 32
                        }
                        var sum = (accE + accO).sum()
                        for t in vectorK..<k { sum += Float(bitPattern: UInt32(row[t]) << 16) * x[i * k + t] }
                        out[i * n + r] = sum + (bias?[r] ?? 0)
                    }
                }
            } }
        }
    }

    /// Runs a GEMM that multiplies by `weight` (viewed as `[rows, rowLength]`, summed over its
    /// columns) in blocks: `gemm(block, ld, rows, columns, isFirstColumnBlock)` must add the block's
    /// product into the output rows `rows` (or set them when it is the first column block).
    ///
    /// fp32 weights are one block, multiplied by one threaded GEMM. A 16-bit weight is widened in
    /// blocks just before the GEMM reads them, never whole (up to 118 MB for an SD UNet filter
    /// bank). When the other operand has many `columns` (> `threadedAbove`) the weight is reused
    /// that many times, so widening is cheap: blocks of whole rows up to `widenedBlockFloats`,
    /// each multiplied by a threaded GEMM. With few columns the layer is weight-bound: each core
    /// takes its own share of the weight's rows and runs single-threaded GEMMs over blocks of
    /// ≤ 512 columns × rows that fit half its L2, so a block is widened in the cache of the core
    /// that reads it and no GEMM waits for the other core. (Widening a 59 MB filter bank whole,
    /// through memory, measured 50 % slower than the fp32 GEMM on the UNet's 8×8 layers; blocks
    /// only 25 columns wide made the 1280→10240 GEGLU projection 2× slower.)
    static func widenedGEMM(_ weight: WeightTensor, columns: Int, threadedAbove: Int,
                            _ gemm: (UnsafePointer<Float>, Int, Range<Int>, Range<Int>, Bool) -> Void) {
        let (rows, k) = (weight.rows, weight.rowLength)
        if weight.float32 != nil {
            weight.withFloatBlock(rows: 0..<rows, columns: 0..<k, parallel: true) { gemm($0, $1, 0..<rows, 0..<k, true) }
            return
        }
        let threads = ComputeThreads.count
        if columns > threadedAbove || threads == 1 || rows < 2 * threads {
            let rowBlock = Swift.max(1, Swift.min(rows, widenedBlockFloats / Swift.max(k, 1)))
            for r0 in stride(from: 0, to: rows, by: rowBlock) {
                let r = r0..<Swift.min(rows, r0 + rowBlock)
                weight.withFloatBlock(rows: r, columns: 0..<k, parallel: true) { gemm($0, $1, r, 0..<k, true) }
            }
            return
        }
        let share = (rows + threads - 1) / threads
        let kBlock = Swift.min(k, 512)
        let rowBlock = Swift.max(8, (1 << 17) / kBlock)
        BLAS.singleThreaded {
            parallelFor(threads) { t in
                for r0 in stride(from: t * share, to: Swift.min(rows, (t + 1) * share), by: rowBlock) {
                    let r = r0..<Swift.min(rows, (t + 1) * share, r0 + rowBlock)
                    for k0 in stride(from: 0, to: k, by: kBlock) {
                        let kr = k0..<Swift.min(k, k0 + kBlock)
                        weight.withFloatBlock(rows: r, columns: kr, parallel: false) { gemm($0, $1, r, kr, k0 == 0) }
                    }
                }
            }
        }
    }

    /// Floats per widened block of whole rows for a 16-bit weight's threaded GEMMs
    /// (`LUMEN_WIDEN_BLOCK_KB` overrides, for measuring): 16 MiB, big enough that the other
    /// operand, packed again for every block, costs little next to the block's GEMM.
    static let widenedBlockFloats: Int = (Int(getenvString("LUMEN_WIDEN_BLOCK_KB") ?? "") ?? 4096) << 10

    /// Other-operand columns up to which a 16-bit weight's GEMM is split by weight rows over the
    /// cores (`LUMEN_WIDEN_SPLIT_MAX` overrides, for measuring).
    static let widenedThreadedColumns: Int = Int(getenvString("LUMEN_WIDEN_SPLIT_MAX") ?? "") ?? 512

    /// Padding of a 2-D convolution, in pixels on each side.
    public struct Padding: Sendable, Equatable {
        public var top, left, bottom, right: Int
        public init(top: Int, left: Int, bottom: Int, right: Int) {
            (self.top, self.left, self.bottom, self.right) = (top, left, bottom, right)
        }
        public static func same(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    }

    /// `torch.nn.functional.conv2d` for NCHW input and `[O, C, kh, kw]` weights.
    ///
    /// 3×3 stride-1 "same" convolutions with enough channels use Winograd F(4×4, 3×3) (see
    /// `Winograd`), 4× fewer multiplications; those with at most 4 outputs (image heads) a direct
    /// stencil (`conv3x3FewOutputs`); with bf16 products, those with at most 16 output pixels and
    /// a big filter bank stream it (`WeightStreaming`), and other big ones run on oneDNN
    /// (`BF16Convolution`).
    /// Otherwise lowered to GEMM: 1×1 stride-1 convolutions multiply directly; others unfold the input
    /// (im2col) in bands of output rows so the unfolded buffer stays small (≤ ~16 MB), which keeps
    /// memory flat even for the 512×512 VAE decoder.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding) -> Tensor {
        conv2d(x, weight: WeightTensor(weight), bias: bias, stride: stride, padding: padding)
    }

    /// `conv2d` with a weight kept in its stored precision. A 16-bit weight is widened whole for
    /// the direct path (at most 4 filters), in the blocks of output channels that Winograd
    /// transforms together, and in blocks of output channels (≤ `widenedConvBlockFloats`) for the
    /// GEMM paths, so no fp32 copy of a big filter bank (up to 118 MB in the SD UNet) is made.
    public static func conv2d(_ x: Tensor, weight: WeightTensor, bias: Tensor?, stride: Int = 1, padding: Padding) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, adding: nil, then: nil)
    }

    /// `activation(conv2d(x) + residual)`. Winograd adds the residual and applies a ReLU in its
    /// output transform as it writes each result (`Winograd.Epilogue`), saving two passes over
    /// the output; other paths and activations do them afterwards.
    public static func conv2d(_ x: Tensor, weight: WeightTensor, bias: Tensor?, stride: Int = 1, padding: Padding,
                              adding residual: Tensor?, then activation: Activation?) -> Tensor {
        var fused = false
        var y = conv2dCore(x, weight: weight, bias: bias, stride: stride, padding: padding, residual: residual,
                           reluInWinograd: activation == .relu, fused: &fused)
        if !fused, let residual {
            precondition(residual.shape == y.shape, "conv2d: residual \(residual.shape) vs output \(y.shape)")
            y += residual
        }
        if let activation, !(fused && activation == .relu) { y = activation.apply(y) }
        return y
    }

    /// `conv2d`'s paths; Winograd also takes `residual` and, when `reluInWinograd`, the ReLU of
    /// a `.relu` activation (setting `fused`) — nothing else does.
    private static func conv2dCore(_ x: Tensor, weight: WeightTensor, bias: Tensor?, stride: Int, padding: Padding,
                                   residual: Tensor?, reluInWinograd: Bool, fused: inout Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kc, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(kc == c, "conv2d: input \(x.shape) vs weight \(weight.shape)")
        let outH = (h + padding.top + padding.bottom - kh) / stride + 1
        let outW = (w + padding.left + padding.right - kw) / stride + 1
        let outHW = outH * outW
        let kdim = c * kh * kw
        let fewOutputs = o <= fewOutputsMaximum && kh == 3 && kw == 3 && stride == 1 && padding == .same(1)
        let streaming = !fewOutputs && WeightStreaming.worthIt(pixels: n * outHW, c: c, o: o, kh: kh, kw: kw)
        let oneDNN = !fewOutputs && BF16Convolution.worthIt(n: n, c: c, o: o, kh: kh, kw: kw, outputPixels: outHW)
        let winograd = !fewOutputs && !streaming && Winograd.enabled && Winograd.applies(c: c, o: o, kh: kh, kw: kw, stride: stride, padding: padding, h: h, w: w)
            && !(oneDNN && Swift.min(c, o) >= BF16Convolution.minimumChannelsOverWinograd)
            && !(oneDNN && !Winograd.beatsDirect(n: n, h: h, w: w, c: c, o: o, filterCache: weight.winogradFilters))
        let path = fewOutputs ? "direct" : streaming ? "stream" : winograd ? "winograd" : oneDNN ? "onednn" : kh * kw == 1 ? "gemm" : "im2col"
        return OpProfiler.measure("conv\(kh)x\(kw)\(stride > 1 ? "/\(stride)" : "") \(path) \(c)→\(o) @\(outH)×\(outW) ×\(n)") {
        Tensor(uninitializedShape: [n, o, outH, outW]) { out in
            x.data.withUnsafeBufferPointer { xp in
                if winograd {
                    let residualData = residual.map { r -> [Float] in
                        precondition(r.shape == [n, o, outH, outW], "conv2d: residual \(r.shape) vs output \([n, o, outH, outW])")
                        return r.data
                    }
                    withBiasPointer(bias) { bp in
                        withOptionalPointer(residualData) { rp in
                            Winograd.conv3x3(xp.baseAddress!, n: n, c: c, h: h, w: w,
                                             weightRows: { rows, body in weight.withFloatRows(rows) { body($0) } }, o: o,
                                             bias: bp, out: out.baseAddress!, filterCache: weight.winogradFilters,
                                             epilogue: Winograd.Epilogue(residual: rp, relu: reluInWinograd))
                        }
                    }
                    fused = true
                    return
                }
                if streaming, withBiasPointer(bias, {
                    WeightStreaming.conv2d(xp.baseAddress!, n: n, c: c, h: h, w: w, weight: weight, stride: stride, padding: padding,
                                           outH: outH, outW: outW, bias: $0, out: out.baseAddress!)
                }) {
                    return
                }
                if oneDNN {
                    let key = BF16Convolution.Key(n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, stride: stride, top: padding.top,
                                                  left: padding.left, bottom: padding.bottom, right: padding.right, bias: bias != nil)
                    if withBiasPointer(bias, { BF16Convolution.run(xp.baseAddress!, key: key, weight: weight, bias: $0, out: out.baseAddress!) }) {
                        return
                    }
                }
                if fewOutputs {
                    weight.withFloatRows(0..<o) { wp in
                        withBiasPointer(bias) { bp in
                            conv3x3FewOutputs(xp.baseAddress!, n: n, c: c, h: h, w: w, weight: wp, o: o,
                                              bias: bp, out: out.baseAddress!)
                        }
                    }
                    return
                }
                let budget = 4 << 20  // floats in the unfolded band
                if n > 1 && batchedIm2col && n * kdim * outHW <= budget {
                    // The whole batch unfolded side by side, [C·kh·kw, n·H·W], and multiplied by
                    // one GEMM (a guided step's two images at the UNet's small levels): a
                    // weight-bound layer then reads and widens its weight once per call, and the
                    // GEMM sees n times the columns (16 → 32 at 4×4). The product is then copied
                    // into NCHW with the bias added.
                    let total = n * outHW
                    ScratchPool.withBuffer(kdim * total + o * total) { buffer in
                        let col = buffer, product = buffer + kdim * total
                        for b in 0..<n {
                            im2col(xp.baseAddress! + b * c * h * w, c: c, h: h, w: w, kh: kh, kw: kw, stride: stride,
                                   padding: padding, outW: outW, y0: 0, rows: outH, col: col + b * outHW, rowStride: total)
                        }
                        if !withBF16Weight(weight, { w in
                            BF16Matmul.gemm(m: o, n: total, k: kdim, a: .bfloat16(w, ld: kdim), b: .float32(col, ld: total), c: product, ldc: total)
                        }) { widenedGEMM(weight, columns: total, threadedAbove: widenedThreadedColumns) { wp, ldw, r, kr, first in
                            BLAS.gemm(m: r.count, n: total, k: kr.count, a: wp, lda: ldw, b: col + kr.lowerBound * total, ldb: total,
                                      beta: first ? 0 : 1, c: product + r.lowerBound * total, ldc: total)
                        } }
                        let biasValues = bias?.data
                        parallelFor(o) { oc in
                            let add = biasValues?[oc] ?? 0
                            for b in 0..<n {
                                let src = product + oc * total + b * outHW, dst = out.baseAddress! + (b * o + oc) * outHW
                                for i in 0..<outHW { dst[i] = src[i] + add }
                            }
                        }
                    }
                    return
                }
                if let bias {
                    for b in 0..<n {
                        for oc in 0..<o { (out.baseAddress! + (b * o + oc) * outHW).update(repeating: bias.data[oc], count: outHW) }
                    }
                }
                let beta: Float = bias == nil ? 0 : 1
                let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == .same(0)
                let bandRows = Swift.max(1, Swift.min(outH, budget / Swift.max(1, kdim * outW)))
                ScratchPool.withBuffer(pointwise ? 0 : kdim * bandRows * outW) { colBuffer in
                let col = pointwise ? nil : colBuffer
                for b in 0..<n {
                    let src = xp.baseAddress! + b * c * h * w
                    let dst = out.baseAddress! + b * o * outHW
                    var y0 = 0
                    while y0 < outH {
                        let bandHeight = pointwise ? outH : Swift.min(bandRows, outH - y0)
                        let cols = bandHeight * outW
                        if let col {
                            im2col(src, c: c, h: h, w: w, kh: kh, kw: kw, stride: stride, padding: padding,
                                   outW: outW, y0: y0, rows: bandHeight, col: col)
                        }
                        let (bp, ldb) = col.map { (UnsafePointer($0), cols) } ?? (src, h * w)
                        if !withBF16Weight(weight, { wp in
                            BF16Matmul.gemm(m: o, n: cols, k: kdim, a: .bfloat16(wp, ld: kdim), b: .float32(bp, ld: ldb),
                                            beta: beta, c: dst + y0 * outW, ldc: outHW)
                        }) { widenedGEMM(weight, columns: cols, threadedAbove: widenedThreadedColumns) { wp, ldw, r, kr, first in
                            BLAS.gemm(m: r.count, n: cols, k: kr.count, a: wp, lda: ldw, b: bp + kr.lowerBound * ldb, ldb: ldb,
                                      beta: first ? beta : 1, c: dst + r.lowerBound * outHW + y0 * outW, ldc: outHW)
                        } }
                        y0 += bandHeight
                    }
                }
                }
            }
        } }
    }

    /// Runs `body` on a bf16-stored weight's elements (kept so when bf16 products are on) and
    /// returns its answer: whether the product was done in bf16. False for other storage.
    static func withBF16Weight(_ weight: WeightTensor, _ body: (UnsafePointer<UInt16>) -> Bool) -> Bool {
        weight.withBF16Elements(body) ?? false
    }

    /// Calls `body` with a pointer to `values`, or nil without them.
    private static func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        if let values { return values.withUnsafeBufferPointer { body($0.baseAddress!) } } else { return body(nil) }
    }

    /// Calls `body` with a pointer to the bias values, or nil without a bias.
    private static func withBiasPointer<R>(_ bias: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
        if let bias { return bias.data.withUnsafeBufferPointer { body($0.baseAddress!) } } else { return body(nil) }
    }

    /// Whether the GEMM convolution paths unfold a whole small batch at once (`LUMEN_CONV_BATCH=0`
    /// turns it off, for measuring).
    static let batchedIm2col = getenvString("LUMEN_CONV_BATCH") != "0"

    /// Output channels up to which 3×3 "same" convolutions run `conv3x3FewOutputs`.
    static let fewOutputsMaximum = 4

    /// Direct 3×3, stride 1, padding 1 convolution for at most `fewOutputsMaximum` output channels:
    /// the image heads (`conv_out` of the VAE and TAESD decoders, 128/64 → 3, and of the UNet,
    /// 320 → 4). As a GEMM these have M = 3 or 4 rows, which leaves most of a GEMM micro-kernel's
    /// lanes empty while the im2col matrix (9·C × pixels) is written and packed in full: measured
    /// 4 GFLOP/s, a quarter of a second per 512×512 decode. Here each task owns output rows and
    /// streams every input row once per kernel row into all outputs' accumulators (the inner loop
    /// is a 3-tap stencil over a row, which the compiler vectorises).
    static func conv3x3FewOutputs(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
                                  weight: UnsafePointer<Float>, o: Int, bias: UnsafePointer<Float>?,
                                  out: UnsafeMutablePointer<Float>) {
        let rowsPerTask = Swift.max(1, Swift.min(h, 4096 / Swift.max(w, 1)))
        let tasksPerImage = (h + rowsPerTask - 1) / rowsPerTask
        parallelFor(n * tasksPerImage) { task in
            let b = task / tasksPerImage
            let y0 = (task % tasksPerImage) * rowsPerTask
            for y in y0..<Swift.min(h, y0 + rowsPerTask) {
                for oc in 0..<o {
                    (out + ((b * o + oc) * h + y) * w).update(repeating: bias?[oc] ?? 0, count: w)
                }
                for ic in 0..<c {
                    let plane = x + (b * c + ic) * h * w
                    for ky in 0..<3 {
                        let iy = y + ky - 1
                        guard iy >= 0 && iy < h else { continue }
                        let row = plane + iy * w
                        for oc in 0..<o {
                            let k = weight + ((oc * c + ic) * 3 + ky) * 3
                            let (w0, w1, w2) = (k[0], k[1], k[2])
                            let dst = out + ((b * o + oc) * h + y) * w
                            guard w > 1 else { dst[0] += w1 * row[0]; continue }
                            dst[0] += w1 * row[0] + w2 * row[1]
                            for xo in 1..<(w - 1) { dst[xo] += w0 * row[xo - 1] + w1 * row[xo] + w2 * row[xo + 1] }
                            dst[w - 1] += w0 * row[w - 2] + w1 * row[w - 1]
                        }
                    }
                }
            }
        }
    }

    /// Unfolds output rows `y0..<y0+rows` into `col[(c·kh·kw), rows·outW]`.
    @inlinable
    static func im2col(_ src: UnsafePointer<Float>, c: Int, h: Int, w: Int, kh: Int, kw: Int,
                       stride: Int, padding: Padding, outW: Int, y0: Int, rows: Int,
                       col: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
        let cols = rowStride ?? rows * outW
        parallelFor(c) { ch in
            let plane = src + ch * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let rowBase = col + ((ch * kh + ky) * kw + kx) * cols
                    for r in 0..<rows {
                        let iy = (y0 + r) * stride - padding.top + ky
                        let dst = rowBase + r * outW
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: outW)
                            continue
                        }
                        let line = plane + iy * w
                        if stride == 1 {
                            // Contiguous run with zero borders.
                            let shift = kx - padding.left
                            var ox = 0
                            while ox < outW && ox + shift < 0 { dst[ox] = 0; ox += 1 }
                            let end = Swift.min(outW, w - shift)
                            if end > ox { (dst + ox).update(from: line + ox + shift, count: end - ox); ox = end }
                            while ox < outW { dst[ox] = 0; ox += 1 }
                        } else {
                            for ox in 0..<outW {
                                let ix = ox * stride - padding.left + kx
                                dst[ox] = (ix >= 0 && ix < w) ? line[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// `torch.nn.GroupNorm` over NCHW (or `[N, C]`) with an optional fused SiLU afterwards.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, eps: Float, silu: Bool = false) -> Tensor {
        let n = x.shape[0], c = x.shape[1]
        let hw = x.count / (n * c)
        let per = c / groups
        return OpProfiler.measure("groupNorm\(silu ? "+silu" : "") \(c) @\(hw)") { Tensor(uninitializedShape: x.shape) { o in
            x.data.withUnsafeBufferPointer { xp in
                parallelFor(n * groups) { ng in
                    let b = ng / groups, g = ng % groups
                    let base = (b * c + g * per) * hw
                    let len = per * hw
                    let (sum, sq) = VectorMath.sumAndSquares(xp.baseAddress! + base, count: len)
                    let mean = sum / Double(len)
                    let variance = Swift.max(sq / Double(len) - mean * mean, 0)
                    let inv = Float(1 / (variance + Double(eps)).squareRoot())
                    let m = Float(mean)
                    for ci in 0..<per {
                        let ch = g * per + ci
                        let scale = weight.data[ch] * inv
                        let shift = bias.data[ch] - m * scale
                        let off = base + ci * hw
                        if silu {
                            VectorMath.affineSiLU(xp.baseAddress! + off, o.baseAddress! + off, count: hw, scale: scale, shift: shift)
                        } else {
                            for i in 0..<hw { o[off + i] = xp[off + i] * scale + shift }
                        }
                    }
                }
            }
        } }
    }

    /// `torch.nn.LayerNorm` over the last dimension.
    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let d = x.shape.last!
        let rows = x.count / d
        return OpProfiler.measure("layerNorm \(d)") { Tensor(uninitializedShape: x.shape) { o in
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { g in
                    bias.data.withUnsafeBufferPointer { bt in
                        parallelChunks(rows, minChunk: 64) { range in
                            for r in range {
                                let base = r * d
                                var sum = 0.0, sq = 0.0
                                for i in 0..<d { let v = Double(xp[base + i]); sum += v; sq += v * v }
                                let mean = sum / Double(d)
                                let variance = Swift.max(sq / Double(d) - mean * mean, 0)
                                let inv = Float(1 / (variance + Double(eps)).squareRoot())
                                let m = Float(mean)
                                for i in 0..<d { o[base + i] = (xp[base + i] - m) * inv * g[i] + bt[i] }
                            }
                        }
                    }
                }
            }
        } }
    }

    /// Scaled dot-product attention over heads packed in the channel dimension.
    ///
    /// `q` is `[B, Lq, H·d]`, `k` and `v` are `[B, Lk, H·d]`; returns `[B, Lq, H·d]`, i.e. the
    /// result of `scaled_dot_product_attention` followed by merging heads, as diffusers'
    /// `AttnProcessor2_0` does. Heads are addressed through GEMM leading dimensions, so no
    /// head split/merge copies are made. `causal` masks keys after each query (CLIP's text encoder).
    ///
    /// Work is split into tasks of (image, head, tile of query rows), run in parallel, each with a
    /// single-threaded GEMM pair, so a tile's score block (`rows × Lk`, ≤ `attentionTileFloats`)
    /// stays in cache (L3 at the default size) from `Q·Kᵀ` through the softmax to `P·V`; the softmax leaves its rows
    /// unnormalised and the 64-wide output rows are divided instead (FlashAttention's deferred
    /// normalisation, Dao et al. 2022). Before, a 2048×4096 block per head went through memory
    /// four times with both cores on each GEMM: the UNet's 4096-token self-attention ran at ~50
    /// GFLOP/s.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
        let (lq, dim, lk) = (q.shape[1], q.shape[2], k.shape[1])
        return q.data.withUnsafeBufferPointer { qp in
            k.data.withUnsafeBufferPointer { kp in
                v.data.withUnsafeBufferPointer { vp in
                    attention(AttentionOperands(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, batch: q.shape[0], lq: lq, lk: lk,
                                                dim: dim, ldq: dim, ldkv: dim),
                              heads: heads, causal: causal, scale: scale)
                }
            }
        }
    }

    /// Self-attention on a fused projection: `qkv` is `[B, L, 3·H·d]`, each row `[q | k | v]`
    /// (`Linear.concatenating` of `to_q`, `to_k`, `to_v`), read in place with row stride 3·H·d.
    public static func attention(qkv: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
        let (l, width) = (qkv.shape[1], qkv.shape[2])
        precondition(width % 3 == 0, "attention: fused projection width \(width) is not 3 × channels")
        let dim = width / 3
        return qkv.data.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            return attention(AttentionOperands(q: base, k: base + dim, v: base + 2 * dim, batch: qkv.shape[0], lq: l, lk: l, dim: dim,
                                               ldq: width, ldkv: width),
                             heads: heads, causal: causal, scale: scale)
        }
    }

    /// Where attention's Q, K and V rows are: separate tensors, or column ranges of one fused one.
    struct AttentionOperands {
        var q, k, v: UnsafePointer<Float>
        var batch, lq, lk, dim: Int
        /// Row strides (elements) of Q and of K/V; images follow one another (`lq` or `lk` rows).
        var ldq, ldkv: Int
        var qBatchStride: Int { lq * ldq }
        var kvBatchStride: Int { lk * ldkv }
    }

    private static func attention(_ o: AttentionOperands, heads: Int, causal: Bool, scale: Float?) -> Tensor {
        let (b, lq, lk, dim) = (o.batch, o.lq, o.lk, o.dim)
        let dh = dim / heads
        let s = scale ?? 1 / Float(dh).squareRoot()
        let tile = attentionTileRows(b: b, heads: heads, lq: lq, lk: lk)
        let tilesPerHead = (lq + tile - 1) / tile
        if flashApplies(headWidth: dh) {
            return attentionFlash(o, heads: heads, causal: causal, scale: s, tile: tile)
        }
        if BF16Matmul.attentionWorthIt(lq: lq, lk: lk, dim: dim),
           let result = attentionBF16(o, heads: heads, causal: causal, scale: s, tile: tile) {
            return result
        }
        let operands = UncheckedSendable(o)
        return OpProfiler.measure("attention \(lq)×\(lk) \(heads)×\(dh) ×\(b)") { Tensor(uninitializedShape: [b, lq, dim]) { out in
            BLAS.singleThreaded {
                parallelFor(b * heads * tilesPerHead) { task in
                    let o = operands.value
                    let (bi, h, r0, rows) = attentionTask(task, heads: heads, tilesPerHead: tilesPerHead, tile: tile, lq: lq)
                    let qh = o.q + bi * o.qBatchStride + h * dh
                    let kh = o.k + bi * o.kvBatchStride + h * dh
                    let vh = o.v + bi * o.kvBatchStride + h * dh
                    let oh = out.baseAddress! + bi * lq * dim + h * dh
                    ScratchPool.withBuffer(rows * lk) { scores in
                        BLAS.gemm(transB: true, m: rows, n: lk, k: dh, alpha: s,
                                  a: qh + r0 * o.ldq, lda: o.ldq, b: kh, ldb: o.ldkv,
                                  c: scores, ldc: lk)
                        let sums = softmaxNumerators(scores, rows: rows, lk: lk, firstQuery: r0, causal: causal)
                        BLAS.gemm(m: rows, n: dh, k: lk, a: scores, lda: lk,
                                  b: vh, ldb: o.ldkv, c: oh + r0 * dim, ldc: dim)
                        divideRows(oh + r0 * dim, by: sums, width: dh, stride: dim)
                    }
                }
            }
        } }
    }

    /// Query rows per attention task: as many as `attentionTileFloats` allows, then fewer where
    /// that leaves a task count the cores cannot share evenly, since each task is one core's
    /// work. Five heads of one picture's 1024 tokens (SD 2's 32×32 level, 256² pictures) were
    /// five 1024-row tasks, three on one core and two on the other; split to ten tasks of 512
    /// rows, the 1024×1024 self-attention went 0.140–0.150 → 0.120–0.122 s over 50 calls and the
    /// cross-attention's five 1024×77 tasks likewise become ten (random SD-Turbo, 256², TAESD,
    /// `LUMEN_PROFILE=1 lumen bench --runs 5`, two alternating pairs).
    static func attentionTileRows(b: Int, heads: Int, lq: Int, lk: Int, threads: Int = ComputeThreads.count) -> Int {
        let largest = Swift.max(1, Swift.min(lq, attentionTileFloats / Swift.max(lk, 1)))
        var tiles = (lq + largest - 1) / largest
        // Only worth it while tasks are few: with many, the last round's imbalance is small.
        while (b * heads * tiles) % threads != 0, b * heads * tiles < 8 * threads, tiles < lq { tiles += 1 }
        return (lq + tiles - 1) / tiles
    }

    /// An attention task's (image, head, first query row, rows) from its index.
    @inline(__always)
    static func attentionTask(_ task: Int, heads: Int, tilesPerHead: Int, tile: Int, lq: Int) -> (Int, Int, Int, Int) {
        let r0 = (task % tilesPerHead) * tile
        return (task / (heads * tilesPerHead), (task / tilesPerHead) % heads, r0, Swift.min(tile, lq - r0))
    }

    /// Replaces each of `rows` score rows (queries from `firstQuery`) by its unnormalised softmax
    /// numerators, masking later keys when `causal`; returns the rows' sums. With `dst`, the
    /// scores are in base 2 (multiplied by log₂e) and the numerators go to `dst` in bf16
    /// (`rows × lk`, contiguous) instead, `scores` keeping the (masked) scores.
    static func softmaxNumerators(_ scores: UnsafeMutablePointer<Float>, rows: Int, lk: Int, firstQuery: Int, causal: Bool,
                                  into dst: UnsafeMutablePointer<UInt16>? = nil) -> [Float] {
        var sums = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = scores + r * lk
            let qi = firstQuery + r
            if causal && qi + 1 < lk { (row + qi + 1).update(repeating: -.infinity, count: lk - qi - 1) }
            sums[r] = dst.map { VectorMath.softmaxNumeratorsBase2(row, n: lk, into: $0 + r * lk) } ?? VectorMath.softmaxNumerators(row, n: lk)
        }
        return sums
    }

    /// Divides each of `sums.count` output rows (`width` values, `stride` apart) by its sum: the
    /// softmax's deferred normalisation.
    static func divideRows(_ out: UnsafeMutablePointer<Float>, by sums: [Float], width: Int, stride: Int) {
        for (r, sum) in sums.enumerated() {
            let inv = 1 / sum
            let o = out + r * stride
            for j in 0..<width { o[j] *= inv }
        }
    }

    /// `attention` with both products in bf16 (`BF16Matmul.attentionWorthIt`): Q, K and V are
    /// rounded to bf16 once per call, and each task's probabilities once per tile, so the
    /// products themselves run at the bf16 rate on the task's own core; the softmax and its
    /// deferred normalisation stay fp32. Nil when oneDNN cannot run a product (the caller then
    /// computes in fp32).
    static func attentionBF16(_ o: AttentionOperands, heads: Int, causal: Bool, scale s: Float, tile: Int) -> Tensor? {
        let (b, lq, lk, dim) = (o.batch, o.lq, o.lk, o.dim)
        let dh = dim / heads
        let tilesPerHead = (lq + tile - 1) / tile
        var failed = false
        let result = OpProfiler.measure("attention \(lq)×\(lk) \(heads)×\(dh) ×\(b) (bf16)") { Tensor(uninitializedShape: [b, lq, dim]) { out in
            let qCount = b * lq * dim, kvCount = b * lk * dim
            ScratchPool.withBuffer((qCount + 2 * kvCount + 1) / 2) { raw in
                let q16 = UnsafeMutableRawPointer(raw).bindMemory(to: UInt16.self, capacity: qCount + 2 * kvCount)
                let k16 = q16 + qCount, v16 = k16 + kvCount
                // Made contiguous (row stride `dim`) as they are rounded.
                for (src, ld, rows, dst) in [(o.q, o.ldq, lq, q16), (o.k, o.ldkv, lk, k16), (o.v, o.ldkv, lk, v16)] {
                    BF16Matmul.convert(src, rows: b * rows, columns: dim, ld: ld, into: dst)
                }
                let failures = UncheckedSendable(UnsafeMutablePointer<Bool>.allocate(capacity: b * heads * tilesPerHead))
                failures.value.initialize(repeating: false, count: b * heads * tilesPerHead)
                defer { failures.value.deallocate() }
                // Only oneDNN runs in these tasks: OpenBLAS's thread count is left alone.
                parallelFor(b * heads * tilesPerHead) { task in
                    let (bi, h, r0, rows) = attentionTask(task, heads: heads, tilesPerHead: tilesPerHead, tile: tile, lq: lq)
                    let qh = q16 + bi * lq * dim + h * dh
                    let kh = k16 + bi * lk * dim + h * dh
                    let vh = v16 + bi * lk * dim + h * dh
                    let oh = out.baseAddress! + bi * lq * dim + h * dh
                    ScratchPool.withBuffer(rows * lk + (rows * lk + 1) / 2) { scores in
                        let p16 = UnsafeMutableRawPointer(scores + rows * lk).bindMemory(to: UInt16.self, capacity: rows * lk)
                        // Scores in base 2: exp(x) = 2^(x·log₂e), the factor folded into the product's scale.
                        guard BF16Matmul.gemmOnThisThread(transB: true, m: rows, n: lk, k: dh, alpha: s * Float(M_LOG2E), a: qh + r0 * dim, lda: dim,
                                                          b: kh, ldb: dim, c: scores, ldc: lk) else {
                            failures.value[task] = true
                            return
                        }
                        let sums = softmaxNumerators(scores, rows: rows, lk: lk, firstQuery: r0, causal: causal, into: p16)
                        guard BF16Matmul.gemmOnThisThread(m: rows, n: dh, k: lk, a: p16, lda: lk, b: vh, ldb: dim,
                                                          c: oh + r0 * dim, ldc: dim) else {
                            failures.value[task] = true
                            return
                        }
                        divideRows(oh + r0 * dim, by: sums, width: dh, stride: dim)
                    }
                }
                failed = (0..<(b * heads * tilesPerHead)).contains { failures.value[$0] }
            }
        } }
        return failed ? nil : result
    }

    /// Whether `attentionFlash` takes an attention: with bf16 products on (or forced), heads 64
    /// wide (SD 2.x's UNet, OpenCLIP ViT-H; SD 1.x's are 40–160 wide and CLIP ViT-L's 64), on a
    /// CPU with AVX512-BF16; `LUMEN_FLASH_ATTENTION=0` off.
    static func flashApplies(headWidth: Int) -> Bool {
        guard flashAvailable, headWidth == 64 else { return false }
        return BF16Matmul.forced ?? BF16Matmul.enabled
    }
    static let flashAvailable: Bool = BF16Matmul.ownKernelsAvailable && getenvString("LUMEN_FLASH_ATTENTION") != "0"

    /// Attention in bf16 on a kernel of our own (`lumen_attention_bf16`, C with AVX512-BF16):
    /// each 6-query tile runs both products and an online softmax over 512-key chunks in
    /// registers and L1 (FlashAttention, Dao et al. 2022, Algorithm 1), so no score block goes
    /// through L2 or L3 and no oneDNN call is paid per tile. Each head's K and V are rounded to
    /// bf16 and packed once per call (keys in 16-lane blocks for `Q·Kᵀ`, values in key pairs for
    /// `P·V`, zero keys up to a multiple of 64, masked), each tile's Q as it starts. The
    /// probabilities are rounded to bf16 as in `attentionBF16`'s oneDNN form, relative to the
    /// running maximum instead of the row's.
    ///
    /// Why by hand: the oneDNN form ran the SD UNet's 1024-token self-attention (5 heads of 64)
    /// at ~570 GFLOP/s on two Zen 5 cores (2.34 ms per call, kernel profiler), its `Q·Kᵀ` a
    /// 64-deep product writing 4 MiB of fp32 scores per head, and the cross-attention over 77
    /// tokens at ~130 GFLOP/s (0.75 ms for 1024 queries), its products too small for oneDNN's
    /// per-call cost. This kernel, in a C harness on one core: 1024 × 1024 per head 0.66–0.72 ms
    /// (~380 GFLOP/s per core), 1024 × 77 0.10 ms.
    static func attentionFlash(_ o: AttentionOperands, heads: Int, causal: Bool, scale s: Float, tile: Int) -> Tensor {
        let (b, lq, lk, dim) = (o.batch, o.lq, o.lk, o.dim)
        let dh = dim / heads
        let tilesPerHead = (lq + tile - 1) / tile
        let paddedKeys = (lk + 63) / 64 * 64, headValues = paddedKeys * dh
        return OpProfiler.measure("attention \(lq)×\(lk) \(heads)×\(dh) ×\(b) (flash)") { Tensor(uninitializedShape: [b, lq, dim]) { out in
            ScratchPool.withBuffer(b * heads * headValues) { raw in
                raw.withMemoryRebound(to: UInt16.self, capacity: 2 * b * heads * headValues) { packed in
                    let buffers = UncheckedSendable((o, packed, out.baseAddress!))
                    // Head (bi, h)'s packed keys at (bi · heads + h) · headValues, its values after all keys.
                    parallelFor(b * heads) { head in
                        let (o, packed, _) = buffers.value
                        let (bi, h) = head.quotientAndRemainder(dividingBy: heads)
                        lumen_attention_pack(o.k + bi * o.kvBatchStride + h * dh, o.v + bi * o.kvBatchStride + h * dh, o.ldkv, lk,
                                             paddedKeys, packed + head * headValues, packed + (b * heads + head) * headValues)
                    }
                    parallelFor(b * heads * tilesPerHead) { task in
                        let (o, packed, out) = buffers.value
                        let (bi, h, r0, rows) = attentionTask(task, heads: heads, tilesPerHead: tilesPerHead, tile: tile, lq: lq)
                        let head = bi * heads + h
                        lumen_attention_bf16(o.q + bi * o.qBatchStride + r0 * o.ldq + h * dh, o.ldq, packed + head * headValues,
                                             packed + (b * heads + head) * headValues, rows, r0, lk, causal ? 1 : 0,
                                             s * Float(M_LOG2E), out + (bi * lq + r0) * dim + h * dh, dim)
                    }
                }
            }
        } }
    }

    /// Floats in one attention task's score block (`LUMEN_ATTENTION_TILE_KB` overrides, for
    /// measuring): 1 Mi floats, 256 query rows of the SD UNet's 4096-token self-attention (4 MiB
    /// of scores, 2 MiB of bf16 probabilities, past a core's 1 MiB L2 but inside the 32 MiB L3).
    /// The taller products beat keeping the block in L2: random SD-Turbo, 512², `LUMEN_PROFILE=1
    /// lumen bench --runs 1` per setting in alternating rounds (10 calls each), 4096×4096 attention
    /// 0.83–0.87 s with 256 Ki floats (64 rows), 0.76–0.79 s with 1 Mi, 0.79–0.86 s with 2 Mi,
    /// 0.89–0.93 s with 4 Mi; 32, 16 and 8 rows were slower still (0.90–0.99, 1.08–1.23 and
    /// 1.35–1.82 s). The 1024-token attention moved within noise (0.105–0.114 s).
    static let attentionTileFloats: Int = (Int(getenvString("LUMEN_ATTENTION_TILE_KB") ?? "") ?? 1024) << 10
}

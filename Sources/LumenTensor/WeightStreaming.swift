import CLumenKernels
import Foundation

/// Convolutions with at most 16 output pixels in a batch — the SD UNet's 4×4 level at 256², where
/// every 3×3 convolution has 1280 outputs and 11 520 or 23 040 inputs per output — on a kernel of
/// our own (`lumen_stream16_bf16`, C with AVX512-BF16 dot products) that streams the weight once.
///
/// Why by hand: such a layer reads 29.5 or 59 MB of bf16 filters to do 16 multiply-adds with each
/// weight, so its time is the time to read the weight from memory. oneDNN's convolution primitive
/// (`brgconv`) read it at 26–27 GB/s here (1.10 ms per 1280→1280 call, 2.25 ms per 2560→1280;
/// 38 ms of a 252 ms UNet call at 256², kernel profiler), oneDNN's matmul on an unfolded input
/// was slower still (1.63 ms), and no library kernel we have is laid out for a stream. Here the
/// filters are packed once (`pack`) so that each block of 16 outputs is one sequential run of
/// 64-byte lines — every line 16 outputs × one pair of inputs, broadcast into `vdpbf16ps` against
/// all 16 pixels at once — and the kernel prefetches 8 KiB ahead. A throwaway C harness on the
/// 2-core Zen 5 EPYC (29.5 MB filters, two threads, eight filter sets rotated so none stays in
/// L3) measured 0.62–0.63 ms per 1280→1280 call, 47 GB/s; the same kernel on the plain `[O, K]`
/// rows (16 streams) 0.66–0.70 ms.
///
/// Products as oneDNN's: inputs rounded to bf16 (to nearest even), products summed in fp32. The
/// packed filters replace the plain bf16 elements, as oneDNN's blocked ones do
/// (`WeightTensor.blockedFilters`; gathered back exactly when another path asks). Only weights
/// kept in bf16 (bf16 products on) on a CPU reporting `avx512_bf16` come here; `LUMEN_STREAMING=0`
/// turns it off.
public enum WeightStreaming {
    /// Whether the kernel can run here (`BF16Matmul.ownKernelsAvailable`).
    static var available: Bool { BF16Matmul.ownKernelsAvailable }

    /// On with bf16 products unless `LUMEN_STREAMING=0`.
    static let enabled: Bool = available && BF16Matmul.enabled && getenvString("LUMEN_STREAMING") != "0"

    /// Tests decide alone when set (true: every convolution that fits runs here, if `available`).
    @TaskLocal public static var forced: Bool?

    /// Most output pixels (batch included) in one call: one AVX-512 register of fp32 lanes.
    static let maximumPixels = 16

    /// Smallest filter bank (bytes of bf16) that comes here: below it a bank stays in the caches
    /// between steps and the weight is not what bounds the layer. 2 MiB; the SD UNet's 4×4-level
    /// filters are 6.5–59 MB.
    static let minimumWeightBytes = 2 << 20

    /// Whether a convolution of this shape runs here.
    static func worthIt(pixels: Int, c: Int, o: Int, kh: Int, kw: Int) -> Bool {
        guard available, pixels <= maximumPixels, o % 16 == 0 else { return false }
        if let forced { return forced }
        if BF16Matmul.forced != nil { return false }
        return enabled && o * c * kh * kw * 2 >= minimumWeightBytes
    }

    /// The packed filters' layout tag in `WeightTensor.blockedFilters` (oneDNN's layouts are
    /// dimension lists, all positive).
    private static func layoutTag(o: Int, k: Int) -> [Int64] { [-16, Int64(o), Int64(k)] }

    /// `out = conv2d(x, weight, bias)` (NCHW fp32 in and out) for `n·outH·outW ≤ 16`, or false
    /// having written nothing when the weight is not kept in bf16 or holds another packed form.
    static func conv2d(_ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: WeightTensor,
                       stride: Int, padding: NN.Padding, outH: Int, outW: Int,
                       bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) -> Bool {
        let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let taps = kh * kw, k = c * taps, kpairs = (k + 1) / 2, blocks = o / 16
        let outHW = outH * outW, pixels = n * outHW
        guard pixels <= maximumPixels, o % 16 == 0, let filters = packedFilters(weight, o: o, k: k) else { return false }
        // Where each tap of each output pixel reads in its image (a channel plane's offset), or
        // -1 in the padding.
        var offsets = [Int](repeating: -1, count: taps * maximumPixels)
        for m in 0..<pixels {
            let (b, r) = m.quotientAndRemainder(dividingBy: outHW)
            let (oy, ox) = r.quotientAndRemainder(dividingBy: outW)
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let iy = oy * stride - padding.top + ky, ix = ox * stride - padding.left + kx
                    if iy >= 0 && iy < h && ix >= 0 && ix < w { offsets[(ky * kw + kx) * maximumPixels + m] = b * c * h * w + iy * w + ix }
                }
            }
        }
        // Scratch: the packed activations (kpairs × 16 × 2 bf16 = kpairs × 16 floats' bytes),
        // then the kernel's [O, 16] results.
        ScratchPool.withBuffer(kpairs * 16 + o * 16) { scratch in
            let results = scratch + kpairs * 16
            scratch.withMemoryRebound(to: UInt16.self, capacity: kpairs * 32) { a in
                a.update(repeating: 0, count: kpairs * 32)
                let rows = UncheckedSendable(a)
                offsets.withUnsafeBufferPointer { table in
                    parallelChunks(c, minChunk: 128) { channels in
                        for ci in channels {
                            let plane = x + ci * h * w
                            for t in 0..<taps {
                                let index = ci * taps + t
                                let dst = rows.value + index / 2 * 32 + index % 2
                                for m in 0..<pixels {
                                    let offset = table[t * maximumPixels + m]
                                    dst[2 * m] = offset >= 0 ? BF16Matmul.bfloat16(bits: plane[offset].bitPattern) : 0
                                }
                            }
                        }
                    }
                }
                let product = UncheckedSendable((UnsafePointer(a), filters, results))
                parallelChunks(blocks, minChunk: 1) { range in
                    let (a, filters, results) = product.value
                    lumen_stream16_bf16(a, filters + range.lowerBound * kpairs * 32, kpairs, range.count,
                                        results + range.lowerBound * 256)
                }
            }
            for oc in 0..<o {
                let add = bias?[oc] ?? 0
                for m in 0..<pixels {
                    let (b, p) = m.quotientAndRemainder(dividingBy: outHW)
                    out[(b * o + oc) * outHW + p] = results[oc * maximumPixels + m] + add
                }
            }
        }
        return true
    }

    /// The filters packed for the kernel, made on first use in place of the plain bf16 elements;
    /// nil when the weight is not kept in bf16 or its cache holds another form (oneDNN's, when
    /// the same layer also runs at another size).
    private static func packedFilters(_ weight: WeightTensor, o: Int, k: Int) -> UnsafePointer<UInt16>? {
        guard case let .bfloat16(elements) = weight.elements else { return nil }
        let kpairs = (k + 1) / 2
        let kept = weight.blockedFilters.form(bytes: o * kpairs * 4, layout: layoutTag(o: o, k: k), budgeted: false) { dst in
            let packed = UncheckedSendable(dst.assumingMemoryBound(to: UInt16.self))
            elements.withPlain { src in
                let plain = UncheckedSendable(src)
                parallelFor(o / 16) { block in pack(plain.value, k: k, block: block, into: packed.value) }
            }
            return true
        }
        guard let kept else { return nil }
        elements.releasePlain(keeping: kept, in: weight.blockedFilters) { packed, dst in
            for block in 0..<(o / 16) { unpack(packed.assumingMemoryBound(to: UInt16.self), k: k, block: block, into: dst) }
        }
        return kept.assumingMemoryBound(to: UInt16.self)
    }

    /// Rows `16·block ..< 16·block + 16` of a row-major `[O, k]` weight into the kernel's layout:
    /// per pair of inputs, the 16 outputs' two values side by side (a zero past an odd `k`).
    static func pack(_ src: UnsafePointer<UInt16>, k: Int, block: Int, into dst: UnsafeMutablePointer<UInt16>) {
        let kpairs = (k + 1) / 2
        let base = dst + block * kpairs * 32
        for j in 0..<16 {
            let row = src + (block * 16 + j) * k
            for i in 0..<k { base[(i / 2) * 32 + j * 2 + i % 2] = row[i] }
            if k % 2 == 1 { base[(kpairs - 1) * 32 + j * 2 + 1] = 0 }
        }
    }

    /// `pack`'s inverse: the block's rows back row-major.
    static func unpack(_ src: UnsafePointer<UInt16>, k: Int, block: Int, into dst: UnsafeMutablePointer<UInt16>) {
        let kpairs = (k + 1) / 2
        let base = src + block * kpairs * 32
        for j in 0..<16 {
            let row = dst + (block * 16 + j) * k
            for i in 0..<k { row[i] = base[(i / 2) * 32 + j * 2 + i % 2] }
        }
    }
}

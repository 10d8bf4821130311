import CDNNL
import Foundation

/// Convolutions in bf16 on oneDNN's convolution primitive (its `brgconv:avx512_core_bf16`
/// kernels: a direct convolution over channel-blocked layouts, no unfolded input), for the
/// layers Winograd does not take — the SD UNet's 1280-channel 3×3 convolutions at 16² and 8²
/// latents, the stride-2 downsamplers, the 1×1 shortcuts.
///
/// Our im2col + GEMM path writes a 9·C × pixels matrix, converts it to bf16 and then multiplies;
/// oneDNN's direct kernel reads the input in place. Measured by a throwaway C harness against
/// Debian's oneDNN 2.6 on the 2-core AVX512-BF16 EPYC (caches flushed between calls, the input
/// and output reorders included): 1280→1280 at 16² 17.7 ms (428 GFLOP/s), 2560→1280 at 16²
/// 34.5 ms, 1280→1280 at 8² 5.2 ms — against 28, 52 and 7.3 ms per call for im2col in the
/// UNet's kernel profile. PyTorch's bf16 autocast runs these same kernels.
///
/// The input is reordered (fp32 NCHW → bf16 in the primitive's blocked layout, one pass) and
/// the output back to fp32 NCHW per call; the filters are reordered once into the blocked
/// layout and kept with the weight (`WeightTensor.blockedFilters`) in place of its plain bf16
/// elements (`BF16Elements`: another path that needs those gathers them back, exactly). Only
/// weights kept in bf16 (bf16 products on) come here. Any oneDNN failure makes `run` return
/// false and the caller computes the convolution its own way.
public enum BF16Convolution {
    /// On with bf16 products unless `LUMEN_DNNL_CONV=0`.
    static let enabled: Bool = BF16Matmul.enabled && getenvString("LUMEN_DNNL_CONV") != "0"

    /// Fewest input and output channels at which a convolution Winograd would take runs here
    /// instead (`LUMEN_DNNL_CONV_CHANNELS`; by default none do).
    static let minimumChannelsOverWinograd: Int = Int(getenvString("LUMEN_DNNL_CONV_CHANNELS") ?? "") ?? Int.max

    /// Whether a convolution of this shape runs here (`BF16Matmul.forced` decides alone in tests).
    static func worthIt(n: Int, c: Int, o: Int, kh: Int, kw: Int, outputPixels: Int) -> Bool {
        if let forced = BF16Matmul.forced { return forced && c >= 8 && o >= 8 }
        return enabled && c >= 64 && o >= 64 && n * o * outputPixels * c * kh * kw >= minimumMultiplyAdds
    }

    /// Fewest multiply-adds that run here (`LUMEN_DNNL_CONV_MIN` overrides, for measuring). 2²⁵
    /// takes in the built-in model's 64→64 convolutions at 32×32 for one item (37.7 M), which the
    /// guided step's shared prefix runs: 0.30 ms per call here against 0.79 ms on Winograd with 64
    /// tiles (kernel profiler, 2026-11-28); at 2²⁶ they went to Winograd.
    static let minimumMultiplyAdds: Int = Int(getenvString("LUMEN_DNNL_CONV_MIN") ?? "") ?? 1 << 25

    /// A convolution's shape: the primitive and its layouts depend on all of it.
    struct Key: Hashable {
        var n, c, h, w, o, kh, kw, stride: Int
        var top, left, bottom, right: Int
        var bias: Bool
        var outH: Int { (h + top + bottom - kh) / stride + 1 }
        var outW: Int { (w + left + right - kw) / stride + 1 }
    }

    /// A compiled convolution with the reorders around it.
    private struct Compiled: @unchecked Sendable {
        var convolution: dnnl_primitive_t
        var convolutionScratchpad: dnnl_memory_desc_t
        var toSource: dnnl_primitive_t, toWeights: dnnl_primitive_t, fromDestination: dnnl_primitive_t
        var plainSource, plainWeights, plainDestination, bias: dnnl_memory_desc_t
        var source, weights, destination: dnnl_memory_desc_t
        /// The blocked weights' layout, to tell a cached form made for another primitive.
        var weightsLayout: [Int64]
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var compiled: [Key: Compiled] = [:]
        var unsupported: Set<Key> = []
    }
    private static let state = State()

    /// `out = conv2d(x, weight, bias)` (NCHW fp32 in and out), or false having written nothing
    /// usable when oneDNN cannot run it or the weight is not kept in bf16.
    static func run(_ x: UnsafePointer<Float>, key: Key, weight: WeightTensor, bias: UnsafePointer<Float>?,
                    out: UnsafeMutablePointer<Float>) -> Bool {
        guard !ParallelContext.inTask, case let .bfloat16(elements) = weight.elements,
              let engine = BF16Matmul.sharedEngine(), let compiled = compiled(key, engine: engine) else { return false }
        let weightsBytes = size(compiled.weights)
        // The blocked filters are made once and then replace the plain elements (the same bf16
        // values rearranged, so memory does not grow); a weight whose filters are kept in another
        // layout (the same weight at another size) reorders into scratch per call.
        let kept = weight.blockedFilters.form(bytes: weightsBytes, layout: compiled.weightsLayout, budgeted: false) { dst in
            elements.withPlain { src in
                execute(compiled.toWeights, engine: engine, [(DNNL_ARG_FROM, compiled.plainWeights, UnsafeMutableRawPointer(mutating: src)),
                                                             (DNNL_ARG_TO, compiled.weights, dst)])
            }
        }
        if let kept, elements.holdsPlain, let layout = BlockedLayout(compiled.weights) {
            elements.releasePlain(keeping: kept, in: weight.blockedFilters) { blocked, dst in
                layout.gather(blocked.assumingMemoryBound(to: UInt16.self), into: dst)
            }
        }
        let sourceBytes = size(compiled.source), destinationBytes = size(compiled.destination)
        let scratchBytes = size(compiled.convolutionScratchpad)
        let perCallWeightsBytes = kept == nil ? weightsBytes : 0
        // One pooled buffer for the reordered input, the blocked output, the scratchpad and (when
        // not kept) the blocked filters, each at a 64-byte boundary.
        func rounded(_ b: Int) -> Int { (b + 63) / 64 * 64 }
        let total = rounded(sourceBytes) + rounded(destinationBytes) + rounded(scratchBytes) + rounded(perCallWeightsBytes) + 64
        return ScratchPool.withBuffer((total + 3) / 4) { raw in
            let base = UnsafeMutableRawPointer(raw)
            let aligned = base + (64 - Int(bitPattern: base) % 64) % 64
            let source = aligned, destination = aligned + rounded(sourceBytes)
            let scratch = destination + rounded(destinationBytes)
            let filters: UnsafeMutableRawPointer
            if let kept {
                filters = UnsafeMutableRawPointer(mutating: kept)
            } else {
                filters = scratch + rounded(scratchBytes)
                let reordered = elements.withPlain { src in
                    execute(compiled.toWeights, engine: engine, [(DNNL_ARG_FROM, compiled.plainWeights, UnsafeMutableRawPointer(mutating: src)),
                                                                 (DNNL_ARG_TO, compiled.weights, filters)])
                }
                guard reordered else { return false }
            }
            var convolutionArguments = [(DNNL_ARG_SRC, compiled.source, source),
                                        (DNNL_ARG_WEIGHTS, compiled.weights, filters),
                                        (DNNL_ARG_DST, compiled.destination, destination),
                                        (DNNL_ARG_SCRATCHPAD, compiled.convolutionScratchpad, scratch)]
            if key.bias {
                guard let bias else { return false }
                convolutionArguments.append((DNNL_ARG_BIAS, compiled.bias, UnsafeMutableRawPointer(mutating: bias)))
            }
            return execute(compiled.toSource, engine: engine, [(DNNL_ARG_FROM, compiled.plainSource, UnsafeMutableRawPointer(mutating: x)),
                                                               (DNNL_ARG_TO, compiled.source, source)])
                && execute(compiled.convolution, engine: engine, convolutionArguments)
                && execute(compiled.fromDestination, engine: engine, [(DNNL_ARG_FROM, compiled.destination, destination),
                                                                      (DNNL_ARG_TO, compiled.plainDestination, UnsafeMutableRawPointer(out))])
        }
    }

    /// Where each element of a blocked oneDNN layout lives, read from its descriptor, so the plain
    /// elements can be gathered back without running oneDNN: the rebuild is asked for wherever a
    /// kernel needs the plain weight, inside parallel tasks too, and oneDNN's reorder run from
    /// there wrote garbage (a 256² picture's fp32 reference came out at 28 dB). This is the
    /// offset rule of oneDNN's `memory_desc_wrapper::off_v` (`src/common/memory_desc_wrapper.hpp`):
    /// inner blocks from the innermost outwards, then the outer strides.
    struct BlockedLayout: Sendable {
        var dims: [Int]
        var offset0: Int
        /// Per dimension, the offset each position along it adds: the layout's offset is a sum
        /// of one term per dimension (its inner blocks and its outer stride).
        var terms: [[Int]]

        init?(_ desc: dnnl_memory_desc_t) {
            var d = desc
            guard d.format_kind == dnnl_blocked, d.ndims > 0 else { return nil }
            let n = Int(d.ndims)
            func ints<T>(_ value: inout T, _ count: Int) -> [Int] {
                withUnsafeBytes(of: &value) { $0.bindMemory(to: Int64.self).prefix(count).map { Int($0) } }
            }
            let dims = ints(&d.dims, n), strides = ints(&d.format_desc.blocking.strides, n)
            let blocks = Int(d.format_desc.blocking.inner_nblks)
            let inner = Array(zip(ints(&d.format_desc.blocking.inner_idxs, blocks), ints(&d.format_desc.blocking.inner_blks, blocks)))
            self.dims = dims
            offset0 = Int(d.offset0)
            terms = (0..<n).map { dimension in
                (0..<dims[dimension]).map { position in
                    var p = position, offset = 0, blockStride = 1
                    for (blockDimension, size) in inner.reversed() {
                        if blockDimension == dimension {
                            offset += p % size * blockStride
                            p /= size
                        }
                        blockStride *= size
                    }
                    return offset + p * strides[dimension]
                }
            }
        }

        /// Writes the elements from `blocked`, in this layout, row-major over `dims` taken in
        /// `order` (outermost first; nil: as they are, `[1, 0]`: a matrix transposed).
        func gather(_ blocked: UnsafePointer<UInt16>, into plain: UnsafeMutablePointer<UInt16>, order: [Int]? = nil) {
            let order = order ?? Array(dims.indices)
            let total = dims.reduce(1, *)
            var position = [Int](repeating: 0, count: dims.count)
            for i in 0..<total {
                var offset = offset0
                for d in 0..<dims.count { offset += terms[d][position[d]] }
                plain[i] = blocked[offset]
                var j = order.count - 1
                while j >= 0 {
                    let d = order[j]
                    position[d] += 1
                    if position[d] < dims[d] { break }
                    position[d] = 0
                    j -= 1
                }
            }
        }
    }

    static func size(_ desc: dnnl_memory_desc_t) -> Int {
        var copy = desc
        return Int(dnnl_memory_desc_get_size(&copy))
    }

    /// Runs a primitive on memory made for these (argument, descriptor, data) triples.
    static func execute(_ primitive: dnnl_primitive_t, engine: dnnl_engine_t,
                                _ arguments: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) -> Bool {
        var stream: dnnl_stream_t?
        var memories: [dnnl_memory_t?] = []
        defer {
            for m in memories where m != nil { dnnl_memory_destroy(m) }
            if stream != nil { dnnl_stream_destroy(stream) }
        }
        guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success else { return false }
        var args: [dnnl_exec_arg_t] = []
        for (argument, desc, data) in arguments {
            var d = desc
            var memory: dnnl_memory_t?
            guard dnnl_memory_create(&memory, &d, engine, data) == dnnl_success else { return false }
            memories.append(memory)
            args.append(dnnl_exec_arg_t(arg: argument, memory: memory))
        }
        OpenMPTeam.noteProduct(onTeam: true)
        guard dnnl_primitive_execute(primitive, stream, Int32(args.count), &args) == dnnl_success else { return false }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    /// The compiled convolution for a shape, made on first use; nil (remembered) when oneDNN
    /// offers no fast kernel for it.
    private static func compiled(_ key: Key, engine: dnnl_engine_t) -> Compiled? {
        state.lock.lock()
        defer { state.lock.unlock() }
        if let c = state.compiled[key] { return c }
        if state.unsupported.contains(key) { return nil }
        guard let made = make(key, engine: engine) else {
            state.unsupported.insert(key)
            return nil
        }
        state.compiled[key] = made
        return made
    }

    private static func desc(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t? {
        var desc = dnnl_memory_desc_t()
        var d = dims.map(Int64.init) + Array(repeating: 0, count: 12 - dims.count)
        let status = d.withUnsafeMutableBufferPointer { dnnl_memory_desc_init_by_tag(&desc, Int32(dims.count), $0.baseAddress, type, tag) }
        return status == dnnl_success ? desc : nil
    }

    /// A blocked layout's description (strides, padded dims, inner blocks) as numbers.
    static func layout(_ desc: dnnl_memory_desc_t) -> [Int64] {
        var d = desc
        let n = Int(d.ndims)
        func ints<T>(_ value: inout T, _ count: Int) -> [Int64] {
            withUnsafeBytes(of: &value) { Array($0.bindMemory(to: Int64.self).prefix(count)) }
        }
        let blocks = Int(d.format_desc.blocking.inner_nblks)
        return [Int64(d.format_kind.rawValue), Int64(blocks)] + ints(&d.padded_dims, n) + ints(&d.format_desc.blocking.strides, n)
            + ints(&d.format_desc.blocking.inner_blks, blocks) + ints(&d.format_desc.blocking.inner_idxs, blocks)
    }

    /// A primitive descriptor's user-scratchpad attribute (one primitive may then run on two
    /// threads at once, each with its own scratchpad).
    private static func userScratchpad() -> dnnl_primitive_attr_t? {
        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success else { return nil }
        guard dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success else {
            dnnl_primitive_attr_destroy(attr)
            return nil
        }
        return attr
    }

    static func reorder(_ from: dnnl_memory_desc_t, _ to: dnnl_memory_desc_t, engine: dnnl_engine_t) -> dnnl_primitive_t? {
        var (f, t) = (from, to)
        var pd: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&pd, &f, engine, &t, engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        // Reorders that need a scratchpad are not expected for these layouts; refuse rather than
        // share one between threads.
        if let s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee, size(s) > 0 { return nil }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, pd) == dnnl_success else { return nil }
        return primitive
    }

    private static func make(_ key: Key, engine: dnnl_engine_t) -> Compiled? {
        guard key.outH > 0, key.outW > 0,
              let plainSource = desc([key.n, key.c, key.h, key.w], dnnl_f32, dnnl_nchw),
              let plainWeights = desc([key.o, key.c, key.kh, key.kw], dnnl_bf16, dnnl_oihw),
              let plainDestination = desc([key.n, key.o, key.outH, key.outW], dnnl_f32, dnnl_nchw),
              let bias = desc([key.o], dnnl_f32, dnnl_a),
              var anySource = desc([key.n, key.c, key.h, key.w], dnnl_bf16, dnnl_format_tag_any),
              var anyWeights = desc([key.o, key.c, key.kh, key.kw], dnnl_bf16, dnnl_format_tag_any),
              var anyDestination = desc([key.n, key.o, key.outH, key.outW], dnnl_f32, dnnl_format_tag_any) else { return nil }
        var biasDesc = bias
        var op = dnnl_convolution_desc_t()
        var strides: [Int64] = [Int64(key.stride), Int64(key.stride)] + Array(repeating: 0, count: 10)
        var padLeft: [Int64] = [Int64(key.top), Int64(key.left)] + Array(repeating: 0, count: 10)
        var padRight: [Int64] = [Int64(key.bottom), Int64(key.right)] + Array(repeating: 0, count: 10)
        let described = strides.withUnsafeMutableBufferPointer { s in
            padLeft.withUnsafeMutableBufferPointer { l in
                padRight.withUnsafeMutableBufferPointer { r in
                    withUnsafeMutablePointer(to: &biasDesc) { b in
                        dnnl_convolution_forward_desc_init(&op, dnnl_forward_inference, dnnl_convolution_direct, &anySource, &anyWeights,
                                                           key.bias ? b : nil, &anyDestination, s.baseAddress, l.baseAddress, r.baseAddress)
                    }
                }
            }
        }
        guard described == dnnl_success, let attr = userScratchpad() else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &op, attr, engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        // Only oneDNN's JIT kernels are worth it; its reference fallback is far slower than im2col.
        var implementation: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &implementation) == dnnl_success,
              let name = implementation.map({ String(cString: $0) }), !name.contains("ref"),
              let source = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)?.pointee,
              let weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)?.pointee,
              let destination = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)?.pointee,
              let scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee else { return nil }
        var convolution: dnnl_primitive_t?
        guard dnnl_primitive_create(&convolution, pd) == dnnl_success, let convolution else { return nil }
        guard let toSource = reorder(plainSource, source, engine: engine),
              let toWeights = reorder(plainWeights, weights, engine: engine),
              let fromDestination = reorder(destination, plainDestination, engine: engine) else {
            dnnl_primitive_destroy(convolution)
            return nil
        }
        return Compiled(convolution: convolution, convolutionScratchpad: scratchpad, toSource: toSource, toWeights: toWeights,
                        fromDestination: fromDestination, plainSource: plainSource, plainWeights: plainWeights,
                        plainDestination: plainDestination, bias: bias, source: source, weights: weights,
                        destination: destination, weightsLayout: layout(weights))
    }
}

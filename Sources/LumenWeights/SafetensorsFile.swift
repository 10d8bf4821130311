import Foundation
import LumenTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types that may appear in a safetensors header.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", u16 = "U16", u32 = "U32", u64 = "U64"
    case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }

    /// Whether the engine can turn this element type into fp32 weights.
    public var isFloatingPoint: Bool { [.f64, .f32, .f16, .bf16].contains(self) }
}

/// One tensor's entry in a safetensors header, validated against the file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range relative to the start of the data section.
    public var range: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A problem with a safetensors file. Every case names the file and, where there is one, the tensor.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case tooSmall(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    case headerPastEnd(file: String, length: UInt64, fileSize: Int)
    case invalidHeaderJSON(file: String, reason: String)
    case invalidEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expectedBytes: Int, actualBytes: Int)
    case rangeOutOfBounds(file: String, tensor: String, range: Range<Int>, dataSize: Int)
    case overlappingRanges(file: String, first: String, second: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): "\(f): cannot read safetensors file: \(r)"
        case let .tooSmall(f, s): "\(f): not a safetensors file: only \(s) bytes, too short for the 8-byte header length"
        case let .headerTooLarge(f, l, limit): "\(f): safetensors header length \(l) bytes exceeds the limit of \(limit) bytes (corrupt or hostile file)"
        case let .headerPastEnd(f, l, s): "\(f): safetensors header length \(l) runs past the end of the \(s)-byte file (truncated or corrupt)"
        case let .invalidHeaderJSON(f, r): "\(f): safetensors header is not valid JSON: \(r)"
        case let .invalidEntry(f, t, r): "\(f): tensor '\(t)': \(r)"
        case let .unknownDType(f, t, d): "\(f): tensor '\(t)' has unknown dtype '\(d)'"
        case let .sizeMismatch(f, t, sh, d, e, a): "\(f): tensor '\(t)' with shape \(sh) and dtype \(d) needs \(e) bytes but its data range holds \(a)"
        case let .rangeOutOfBounds(f, t, r, s): "\(f): tensor '\(t)' data range \(r.lowerBound)..<\(r.upperBound) lies outside the \(s)-byte data section (truncated file?)"
        case let .overlappingRanges(f, a, b): "\(f): tensors '\(a)' and '\(b)' have overlapping data ranges"
        case let .unsupportedDType(f, t, d): "\(f): tensor '\(t)' has dtype \(d), which cannot be used as a floating-point weight"
        }
    }
}

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors, format spec in its README).
///
/// Everything in the header is validated before any byte of tensor data is trusted: the header
/// length against a limit and the file size, the JSON, dtype names, `shape × dtype = bytes`,
/// ranges inside the data section and not overlapping. Tensor data stays in the mapping and is
/// converted to fp32 one tensor at a time, so loading never holds a second full copy of a model.
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest header accepted. Real checkpoints have headers of a few hundred KB; the limit
    /// stops a hostile length from causing a huge allocation.
    public static let maxHeaderBytes = 16 << 20

    public let path: String
    public let tensors: [String: SafetensorsTensorInfo]
    public let metadata: [String: String]
    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataOffset: Int

    public init(path: String) throws {
        self.path = path
        let name = (path as NSString).lastPathComponent
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafetensorsError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SafetensorsError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw SafetensorsError.unreadable(file: path, reason: "is a directory") }
        let size = Int(st.st_size)
        guard size >= 8 else { throw SafetensorsError.tooSmall(file: name, size: size) }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw SafetensorsError.unreadable(file: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawPointer(map)
        var ok = false
        defer { if !ok { munmap(map, size) } }

        let headerLength = raw.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw SafetensorsError.headerTooLarge(file: name, length: headerLength, limit: Self.maxHeaderBytes)
        }
        guard 8 + Int(headerLength) <= size else {
            throw SafetensorsError.headerPastEnd(file: name, length: headerLength, fileSize: size)
        }
        let headerData = Data(bytes: raw + 8, count: Int(headerLength))
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw SafetensorsError.invalidHeaderJSON(file: name, reason: "\(error.localizedDescription)")
        }
        guard let object = json as? [String: Any] else {
            throw SafetensorsError.invalidHeaderJSON(file: name, reason: "the header must be a JSON object")
        }
        let dataSize = size - 8 - Int(headerLength)
        var infos: [String: SafetensorsTensorInfo] = [:]
        var meta: [String: String] = [:]
        for (key, value) in object {
            if key == "__metadata__" {
                guard let dict = value as? [String: Any] else {
                    throw SafetensorsError.invalidEntry(file: name, tensor: key, reason: "__metadata__ must be an object of strings")
                }
                for (k, v) in dict { meta[k] = (v as? String) ?? "\(v)" }
                continue
            }
            infos[key] = try Self.parseEntry(key, value, file: name, dataSize: dataSize)
        }
        // No two tensors may share bytes.
        let sorted = infos.values.sorted { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.range.lowerBound < a.range.upperBound {
            throw SafetensorsError.overlappingRanges(file: name, first: a.name, second: b.name)
        }
        self.tensors = infos
        self.metadata = meta
        self.base = raw
        self.mappedLength = size
        self.dataOffset = 8 + Int(headerLength)
        ok = true
    }

    private static func parseEntry(_ key: String, _ value: Any, file: String, dataSize: Int) throws -> SafetensorsTensorInfo {
        guard let entry = value as? [String: Any] else {
            throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "entry must be an object with dtype, shape and data_offsets")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "missing dtype")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(file: file, tensor: key, dtype: dtypeName)
        }
        guard let shapeValues = entry["shape"] as? [Any] else {
            throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "missing shape")
        }
        var shape: [Int] = []
        var elements = 1
        for dim in shapeValues {
            guard let n = dim as? Int, n >= 0 else {
                throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "shape entries must be non-negative integers")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow, product <= Int(Int32.max) * 64 else {
                throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "shape \(shapeValues) is impossibly large")
            }
            elements = product
            shape.append(n)
        }
        guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
              let begin = offsets[0] as? Int, let end = offsets[1] as? Int, begin >= 0, end >= begin else {
            throw SafetensorsError.invalidEntry(file: file, tensor: key, reason: "data_offsets must be [begin, end] with 0 ≤ begin ≤ end")
        }
        guard end <= dataSize else {
            throw SafetensorsError.rangeOutOfBounds(file: file, tensor: key, range: begin..<end, dataSize: dataSize)
        }
        let expected = elements * dtype.byteSize
        guard expected == end - begin else {
            throw SafetensorsError.sizeMismatch(file: file, tensor: key, shape: shape, dtype: dtypeName, expectedBytes: expected, actualBytes: end - begin)
        }
        return SafetensorsTensorInfo(name: key, dtype: dtype, shape: shape, range: begin..<end)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    /// Raw bytes of a tensor inside the mapping.
    public func bytes(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + info.range.lowerBound, count: info.range.count)
    }

    /// Converts one tensor to fp32 (from F32, F16, BF16 or F64).
    public func floatTensor(_ info: SafetensorsTensorInfo) throws -> Tensor {
        guard info.dtype.isFloatingPoint else {
            throw SafetensorsError.unsupportedDType(file: (path as NSString).lastPathComponent, tensor: info.name, dtype: info.dtype.rawValue)
        }
        let src = bytes(of: info)
        let n = info.elementCount
        return Tensor(uninitializedShape: info.shape) { out in
            switch info.dtype {
            case .f32:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
            case .f16:
                for i in 0..<n { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))) }
            case .bf16:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16) }
            case .f64:
                for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
            default:
                break
            }
            release(src)
        }
    }

    /// One tensor at its stored precision when that is fp16 or bf16 (copied out of the mapping),
    /// or widened to fp32 otherwise: the form `WeightTensor` keeps in memory.
    public func weightTensor(_ info: SafetensorsTensorInfo) throws -> WeightTensor {
        let src = bytes(of: info)
        let n = info.elementCount
        switch info.dtype {
        case .f16 where BF16Matmul.enabled:
            // bf16 products are on: kept in bf16, the precision every large product rounds to.
            let bits = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n {
                    out[i] = BF16Matmul.bfloat16(fromHalf: Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
                }
                initialized = n
            }
            release(src)
            return WeightTensor(shape: info.shape, storage: .bfloat16(bits))
        case .f16:
            let halves = [Float16](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
                initialized = n
            }
            release(src)
            return WeightTensor(shape: info.shape, storage: .float16(halves))
        case .bf16:
            let bits = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
                initialized = n
            }
            release(src)
            return WeightTensor(shape: info.shape, storage: .bfloat16(bits))
        default:
            return WeightTensor(try floatTensor(info))
        }
    }

    /// One tensor read in place from the mapping (which the weight keeps open), when stored as
    /// fp32, fp16 or bf16; nil otherwise. Only the pages a kernel reads become resident.
    public func mappedWeight(_ info: SafetensorsTensorInfo) -> WeightTensor? {
        let precision: WeightTensor.MappedPrecision
        switch info.dtype {
        case .f32: precision = .float32
        case .f16: precision = .float16
        case .bf16: precision = .bfloat16
        default: return nil
        }
        guard let start = bytes(of: info).baseAddress else { return nil }
        return WeightTensor(shape: info.shape, mapped: start, precision: precision, owner: self)
    }

    /// Hands the mapped file pages of a tensor that has just been copied back to the kernel
    /// (`MADV_DONTNEED`; a private read-only file mapping reloads them from the file if they are
    /// read again). Without this every fp16 byte stays resident next to its fp32 copy until the
    /// whole file is closed: 2.6 GB more peak memory for SD-Turbo than the model needs.
    private func release(_ range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + range.count) / page * page
        guard end > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, end - first, Int32(MADV_DONTNEED))
    }
}

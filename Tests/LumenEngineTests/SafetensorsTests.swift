import Foundation
import LumenTensor
import LumenModels
import LumenWeights
import Testing

/// The reader validates every header field before trusting the file.
@Suite struct SafetensorsTests {
    static func write(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) throws -> String {
        let path = NSTemporaryDirectory() + "lumen-test-\(UUID().uuidString).safetensors"
        var bytes = Data()
        var length = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(Data(header.utf8))
        bytes.append(contentsOf: data)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsValidFileAndConvertsDTypes() throws {
        // F32 [2] = 1.5, -2 ; F16 [1] = 1.0 (0x3C00) ; BF16 [1] = 2.0 (0x4000)
        var data: [UInt8] = []
        for v in [Float(1.5), -2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        data += [0x00, 0x3C, 0x00, 0x40]
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"c":{"dtype":"BF16","shape":[1,1],"data_offsets":[10,12]},"__metadata__":{"format":"pt"}}"#
        let file = try SafetensorsFile(path: try Self.write(header: header, data: data))
        #expect(try file.floatTensor(file.tensors["a"]!).data == [1.5, -2])
        #expect(try file.floatTensor(file.tensors["b"]!).data == [1])
        #expect(try file.floatTensor(file.tensors["c"]!).data == [2])
        #expect(file.metadata["format"] == "pt")
    }

    @Test func rejectsTruncatedFile() throws {
        let path = NSTemporaryDirectory() + "lumen-short-\(UUID().uuidString).safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafetensorsError.tooSmall(file: (path as NSString).lastPathComponent, size: 3)) { try SafetensorsFile(path: path) }
    }

    @Test func rejectsHeaderLengthPastEnd() throws {
        let path = try Self.write(header: "{}", lengthOverride: 1000)
        #expect { try SafetensorsFile(path: path) } throws: { e in
            guard case .headerPastEnd = e as? SafetensorsError else { return false }
            return "\(e)".contains("past the end")
        }
    }

    @Test func rejectsHugeHeaderWithoutAllocating() throws {
        let path = try Self.write(header: "{}", lengthOverride: 100 << 20)
        #expect { try SafetensorsFile(path: path) } throws: { e in
            guard case .headerTooLarge = e as? SafetensorsError else { return false }
            return true
        }
    }

    @Test func rejectsBadJSON() throws {
        #expect { try SafetensorsFile(path: try Self.write(header: "{not json")) } throws: { e in
            if case .invalidHeaderJSON = e as? SafetensorsError { return true } else { return false }
        }
    }

    @Test func rejectsUnknownDType() throws {
        let path = try Self.write(header: #"{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafetensorsError.unknownDType(file: (path as NSString).lastPathComponent, tensor: "w", dtype: "F17")) {
            try SafetensorsFile(path: path)
        }
    }

    @Test func rejectsShapeNotMatchingBytes() throws {
        let path = try Self.write(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            "\(e)".contains("'w'") && "\(e)".contains("needs 16 bytes")
        }
    }

    @Test func rejectsOverlappingRanges() throws {
        let path = try Self.write(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                  data: Array(repeating: 0, count: 12))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case .overlappingRanges = e as? SafetensorsError { return true } else { return false }
        }
    }

    @Test func rejectsRangeOutsideFile() throws {
        let path = try Self.write(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 8))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case .rangeOutOfBounds = e as? SafetensorsError { return true } else { return false }
        }
    }

    @Test func weightStoreReportsMissingUnexpectedAndMisShaped() throws {
        var data: [UInt8] = Array(repeating: 0, count: 24)
        data[0] = 0
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"extra":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}"#
        let store = WeightStore(component: "test", files: [try SafetensorsFile(path: try Self.write(header: header, data: data))])
        _ = store.tensor("a", shape: [2])
        _ = store.tensor("b", shape: [3])
        _ = store.tensor("missing", shape: [1])
        #expect { try store.finish() } throws: { e in
            guard let e = e as? WeightLoadError else { return false }
            return e.missing == ["missing"] && e.unexpected == ["extra"] && e.misShaped.map(\.name) == ["b"]
        }
    }
}

/// Impossible model configs are refused with a message naming the field, not a crash.
@Suite struct ModelConfigValidationTests {
    @Test func impossibleConfigsAreRefused() throws {
        #expect { try AutoencoderKLConfig(JSONConfig(values: ["block_out_channels": [30, 64], "norm_num_groups": 32])) } throws: {
            "\($0)".contains("block_out_channels")
        }
        #expect { try UNet2DConditionConfig(JSONConfig(values: ["block_out_channels": [32, 64], "norm_num_groups": 32, "attention_head_dim": 3,
                                                                  "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
                                                                  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]])) } throws: {
            "\($0)".contains("attention_head_dim")
        }
        #expect { try CLIPTextConfig(JSONConfig(values: ["hidden_size": 30, "num_attention_heads": 4])) } throws: {
            "\($0)".contains("num_attention_heads")
        }
    }
}

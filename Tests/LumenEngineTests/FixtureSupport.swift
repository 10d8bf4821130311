import Foundation
import LumenTensor
import LumenWeights

/// Access to the committed fixtures written by `tools/make_fixtures.py`.
enum Fixtures {
    static let directory: String = {
        Bundle.module.resourcePath! + "/Fixtures"
    }()

    static func path(_ name: String) -> String { directory + "/" + name }

    /// All tensors of `name.safetensors`, as fp32.
    static func tensors(_ name: String) throws -> [String: Tensor] {
        let file = try SafetensorsFile(path: path(name + ".safetensors"))
        var out: [String: Tensor] = [:]
        for (k, info) in file.tensors { out[k] = try file.floatTensor(info) }
        return out
    }

    /// The JSON object stored in a fixture's safetensors metadata under "meta".
    static func meta(_ name: String) throws -> [String: Any] {
        let file = try SafetensorsFile(path: path(name + ".safetensors"))
        let text = file.metadata["meta"] ?? "{}"
        return (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(name))))
    }
}

/// Largest absolute difference, or infinity when the shapes differ (so a shape bug fails loudly).
func maxError(_ a: Tensor, _ b: Tensor) -> Float {
    a.shape == b.shape ? a.maxAbsDifference(b) : .infinity
}

/// The root mean square of `values` (0 for none): the scale errors are measured against.
func rootMeanSquare(_ values: [Double]) -> Double {
    (values.map { $0 * $0 }.reduce(0, +) / Double(max(values.count, 1))).squareRoot()
}

import Foundation

/// A config value that is missing, of the wrong type, or names something the engine lacks.
public enum ModelConfigError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(field: String, reason: String)
    case unsupported(field: String, value: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "cannot read config \(p): \(r)"
        case let .invalid(f, r): "config field '\(f)': \(r)"
        case let .unsupported(f, v): "config field '\(f)' = \(v) is not supported by Lumen"
        }
    }
}

/// Typed access to a diffusers / transformers `config.json`.
///
/// diffusers configs mix ints and lists for the same field (`attention_head_dim: 8` in SD1,
/// `[5, 10, 20, 20]` in SD2), so fields are read through small accessors instead of `Decodable`.
public struct JSONConfig: @unchecked Sendable {
    public let values: [String: Any]

    public init(values: [String: Any]) { self.values = values }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelConfigError.unreadable(path: path, reason: "file not found")
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "config") throws {
        do {
            guard let dict = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelConfigError.unreadable(path: path, reason: "not a JSON object")
            }
            values = dict
        } catch let e as ModelConfigError {
            throw e
        } catch {
            throw ModelConfigError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    public func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
        if let v = values[key] as? Int { return v }
        if let v = values[key] as? Double, v == v.rounded() { return Int(v) }
        if !has(key), let fallback { return fallback }
        throw ModelConfigError.invalid(field: key, reason: "expected an integer")
    }

    public func optionalInt(_ key: String) -> Int? { has(key) ? (try? int(key)) : nil }

    public func double(_ key: String, _ fallback: Double? = nil) throws -> Double {
        if let v = values[key] as? Double { return v }
        if let v = values[key] as? Int { return Double(v) }
        if !has(key), let fallback { return fallback }
        throw ModelConfigError.invalid(field: key, reason: "expected a number")
    }

    public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        if !has(key) { return fallback }
        if let v = values[key] as? Bool { return v }
        throw ModelConfigError.invalid(field: key, reason: "expected true or false")
    }

    public func string(_ key: String, _ fallback: String? = nil) throws -> String {
        if let v = values[key] as? String { return v }
        if !has(key), let fallback { return fallback }
        throw ModelConfigError.invalid(field: key, reason: "expected a string")
    }

    public func optionalString(_ key: String) -> String? { values[key] as? String }

    public func ints(_ key: String, _ fallback: [Int]? = nil) throws -> [Int] {
        if let v = values[key] as? [Int] { return v }
        if let v = values[key] as? [Any] {
            return try v.map { item in
                guard let i = item as? Int else { throw ModelConfigError.invalid(field: key, reason: "expected a list of integers") }
                return i
            }
        }
        if !has(key), let fallback { return fallback }
        throw ModelConfigError.invalid(field: key, reason: "expected a list of integers")
    }

    /// An int that applies to every block, or a per-block list (`attention_head_dim` and friends).
    public func intOrList(_ key: String, count: Int, _ fallback: Int? = nil) throws -> [Int] {
        if let v = values[key] as? Int { return Array(repeating: v, count: count) }
        if has(key) {
            let list = try ints(key)
            guard list.count == count else {
                throw ModelConfigError.invalid(field: key, reason: "has \(list.count) entries for \(count) blocks")
            }
            return list
        }
        if let fallback { return Array(repeating: fallback, count: count) }
        throw ModelConfigError.invalid(field: key, reason: "missing")
    }

    public func strings(_ key: String, _ fallback: [String]? = nil) throws -> [String] {
        if let v = values[key] as? [String] { return v }
        if !has(key), let fallback { return fallback }
        throw ModelConfigError.invalid(field: key, reason: "expected a list of strings")
    }
}

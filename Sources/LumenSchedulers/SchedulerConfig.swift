import Foundation

/// The fields of a diffusers `scheduler_config.json`.
///
/// Like `from_config`, a field absent from the file takes the default of the scheduler class
/// being built, so the stored dictionary is kept and each scheduler reads it with its own defaults.
public struct SchedulerConfig: @unchecked Sendable {
    public let values: [String: Any]

    public init(values: [String: Any] = [:]) { self.values = values }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SchedulerError.invalid("cannot read scheduler config \(path)")
        }
        guard let dict = (try? JSONSerialization.jsonObject(with: Self.quotingNonFiniteNumbers(data))) as? [String: Any] else {
            throw SchedulerError.invalid("scheduler config \(path) is not a JSON object")
        }
        values = dict
    }

    /// Python's `json` writes `-Infinity`, `Infinity` and `NaN` (diffusers saves
    /// `lambda_min_clipped: -Infinity`), which strict JSON parsers reject: quote them so they
    /// parse as strings, and `double(_:_:)` reads them back as numbers.
    static func quotingNonFiniteNumbers(_ data: Data) -> Data {
        guard let text = String(data: data, encoding: .utf8) else { return data }
        var out = "", inString = false, escaped = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                i = text.index(after: i)
                continue
            }
            if c == "\"" { inString = true }
            var matched = false
            for token in ["-Infinity", "Infinity", "NaN"] where text[i...].hasPrefix(token) {
                out += "\"\(token)\""
                i = text.index(i, offsetBy: token.count)
                matched = true
                break
            }
            if !matched { out.append(c); i = text.index(after: i) }
        }
        return Data(out.utf8)
    }

    /// The class named by `_class_name`, if any.
    public var className: String? { values["_class_name"] as? String }

    func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    public func int(_ key: String, _ fallback: Int) throws -> Int {
        guard has(key) else { return fallback }
        if let v = values[key] as? Int { return v }
        throw SchedulerError.invalid("scheduler config field '\(key)' must be an integer")
    }

    public func double(_ key: String, _ fallback: Double) throws -> Double {
        guard has(key) else { return fallback }
        if let v = values[key] as? Double { return v }
        if let v = values[key] as? Int { return Double(v) }
        switch values[key] as? String {
        case "-Infinity": return -.infinity
        case "Infinity": return .infinity
        case "NaN": return .nan
        default: throw SchedulerError.invalid("scheduler config field '\(key)' must be a number")
        }
    }

    public func bool(_ key: String, _ fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        if let v = values[key] as? Bool { return v }
        throw SchedulerError.invalid("scheduler config field '\(key)' must be true or false")
    }

    public func string(_ key: String, _ fallback: String) throws -> String {
        guard has(key) else { return fallback }
        if let v = values[key] as? String { return v }
        throw SchedulerError.invalid("scheduler config field '\(key)' must be a string")
    }

    func prediction() throws -> PredictionType {
        let v = try string("prediction_type", "epsilon")
        guard let p = PredictionType(rawValue: v) else { throw SchedulerError.unsupported(field: "prediction_type", value: v) }
        return p
    }

    func spacing(_ fallback: TimestepSpacing) throws -> TimestepSpacing {
        let v = try string("timestep_spacing", fallback.rawValue)
        guard let s = TimestepSpacing(rawValue: v) else { throw SchedulerError.unsupported(field: "timestep_spacing", value: v) }
        return s
    }

    /// Rejects options that change the math and that Lumen does not implement.
    func rejectUnsupported(_ checks: [(String, Any)]) throws {
        for (key, neutral) in checks where has(key) {
            let value = values[key]!
            let same: Bool
            switch neutral {
            case let b as Bool: same = (value as? Bool) == b
            case let s as String: same = (value as? String) == s
            default: same = false
            }
            if !same { throw SchedulerError.unsupported(field: key, value: "\(value)") }
        }
    }
}

import Foundation

/// Per-model availability by region (EU AI Act Art. 50: a model whose pictures cannot be marked as
/// the law asks is not offered in the EU). A JSON file:
///
/// ```json
/// {"default_region": "US",
///  "groups": {"EEA": ["EU", "IS", "LI", "NO"]},
///  "models": {"sd-turbo": {"withheld": ["EU"], "reason": "no Content Credentials review yet"},
///             "lumen-tiny": {"offered": ["US", "EU"]}}}
/// ```
///
/// Regions are ISO 3166 alpha-2 codes (upper case) or group names; "EU" is built in (the 27 member
/// states). A model is withheld from a region that is, or belongs to, one of its `withheld`
/// entries, or — when it has an `offered` list — from every region not covered by it. A request
/// whose region is unknown counts as `default_region`; with no default, only models with an
/// `offered` list are withheld from it.
public struct RegionPolicy: Sendable, Equatable {
    public struct Rule: Sendable, Equatable, Codable {
        public var offered: [String]?
        public var withheld: [String]?
        public var reason: String?

        public init(offered: [String]?, withheld: [String]?, reason: String?) {
            self.offered = offered; self.withheld = withheld; self.reason = reason
        }
    }

    public var defaultRegion: String?
    public var groups: [String: [String]]
    public var models: [String: Rule]

    public static let euMembers = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
                                   "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]

    /// No restrictions.
    public static let open = RegionPolicy(defaultRegion: nil, groups: [:], models: [:])

    public init(defaultRegion: String?, groups: [String: [String]], models: [String: Rule]) {
        self.defaultRegion = defaultRegion?.uppercased()
        self.groups = Dictionary(uniqueKeysWithValues: groups.map { ($0.key.uppercased(), $0.value.map { $0.uppercased() }) })
        self.models = models
    }

    struct File: Codable {
        var default_region: String?
        var groups: [String: [String]]?
        var models: [String: Rule]?
    }

    /// Reads a policy file; errors name the file and the problem.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw RegionPolicyError.unreadable(path) }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw RegionPolicyError.invalid(path, "not a region policy (\(error))")
        }
        for (model, rule) in file.models ?? [:] where rule.offered == nil && rule.withheld == nil {
            throw RegionPolicyError.invalid(path, "the rule for \(model) names neither 'offered' nor 'withheld'")
        }
        self.init(defaultRegion: file.default_region, groups: file.groups ?? [:], models: file.models ?? [:])
    }

    /// Whether `region` is `entry` or a member of the group `entry` (groups may nest once through "EU").
    func covers(_ entry: String, _ region: String) -> Bool {
        let e = entry.uppercased()
        if e == region { return true }
        let members = e == "EU" ? Self.euMembers : (groups[e] ?? [])
        return members.contains { $0 == region || ($0 == "EU" && Self.euMembers.contains(region)) }
    }

    /// nil when the model is offered in `region`; otherwise why not.
    public func withholding(model: String, region requested: String?) -> String? {
        guard let rule = models[model] else { return nil }
        let region = (requested?.uppercased()).flatMap { $0.isEmpty ? nil : $0 } ?? defaultRegion
        let why = rule.reason.map { ": \($0)" } ?? ""
        guard let region else {
            return rule.offered != nil ? "the model '\(model)' is offered only in \(rule.offered!.joined(separator: ", ")) and the request's region is unknown\(why)" : nil
        }
        if let withheld = rule.withheld, withheld.contains(where: { covers($0, region) }) {
            return "the model '\(model)' is not offered in region \(region)\(why)"
        }
        if let offered = rule.offered, !offered.contains(where: { covers($0, region) }) {
            return "the model '\(model)' is offered only in \(offered.joined(separator: ", ")), not in region \(region)\(why)"
        }
        return nil
    }
}

public enum RegionPolicyError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case invalid(String, String)
    case withheld(String)

    public var description: String {
        switch self {
        case let .unreadable(p): "cannot read the region policy \(p)"
        case let .invalid(p, why): "region policy \(p): \(why)"
        case let .withheld(why): why
        }
    }
}

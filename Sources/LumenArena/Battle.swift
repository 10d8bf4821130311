import Foundation

/// The outcome of one vote, with FastChat's clean-battle labels.
public enum BattleWinner: String, Codable, Sendable, CaseIterable {
    case modelA = "model_a"
    case modelB = "model_b"
    case tie = "tie"
    case bothBad = "tie (bothbad)"

    /// Score of model A: 1 win, 0.5 tie (a tie and "both bad" are each half a win and half a loss), 0 loss.
    public var scoreA: Double {
        switch self {
        case .modelA: 1
        case .modelB: 0
        case .tie, .bothBad: 0.5
        }
    }
}

/// One vote in FastChat's clean-battle format (`model_a`, `model_b`, `winner`, `judge`, `anony`, `tstamp`).
public struct Battle: Codable, Sendable, Equatable {
    public var modelA: String
    public var modelB: String
    public var winner: BattleWinner
    public var judge: String?
    /// Whether the names were hidden when the vote was cast; only anonymous votes rank models.
    public var anony: Bool
    public var tstamp: Double?
    /// Lumen's own optional fields: the prompt and its category (for per-category boards and the
    /// repeated-prompt cap). FastChat logs without them still decode.
    public var prompt: String?
    public var category: String?

    enum CodingKeys: String, CodingKey {
        case modelA = "model_a", modelB = "model_b", winner, judge, anony, tstamp, prompt, category
    }

    public init(modelA: String, modelB: String, winner: BattleWinner, judge: String? = nil, anony: Bool = true, tstamp: Double? = nil,
                prompt: String? = nil, category: String? = nil) {
        self.modelA = modelA; self.modelB = modelB; self.winner = winner
        self.judge = judge; self.anony = anony; self.tstamp = tstamp
        self.prompt = prompt; self.category = category
    }
}

/// A battle log that cannot be read.
public enum BattleLogError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalidRow(index: Int, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "\(p): \(r)"
        case let .invalidRow(i, r): "battle \(i): \(r)"
        }
    }
}

public enum BattleLog {
    /// Decodes a JSON array of clean-battle rows; every problem names the row (an unknown
    /// `winner` label is an error, never a silent NaN).
    public static func decode(_ data: Data, path: String = "battle log") throws -> [Battle] {
        guard let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw BattleLogError.unreadable(path: path, reason: "expected a JSON array of battle objects")
        }
        return try rows.enumerated().map { i, row in
            guard let a = row["model_a"] as? String, !a.isEmpty else { throw BattleLogError.invalidRow(index: i, reason: "missing model_a") }
            guard let b = row["model_b"] as? String, !b.isEmpty else { throw BattleLogError.invalidRow(index: i, reason: "missing model_b") }
            guard let label = row["winner"] as? String else { throw BattleLogError.invalidRow(index: i, reason: "missing winner") }
            guard let winner = BattleWinner(rawValue: label) else {
                throw BattleLogError.invalidRow(index: i, reason: "unknown winner '\(label)' (expected model_a, model_b, tie or tie (bothbad))")
            }
            let anony = (row["anony"] as? Bool) ?? false
            return Battle(modelA: a, modelB: b, winner: winner, judge: row["judge"] as? String, anony: anony,
                          tstamp: (row["tstamp"] as? Double) ?? (row["tstamp"] as? Int).map(Double.init),
                          prompt: row["prompt"] as? String, category: row["category"] as? String)
        }
    }

    public static func load(path: String) throws -> [Battle] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BattleLogError.unreadable(path: path, reason: "file not found")
        }
        return try decode(data, path: path)
    }

    public static func encode(_ battles: [Battle]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(battles)
    }
}

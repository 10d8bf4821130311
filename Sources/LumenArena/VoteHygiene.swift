import Foundation

/// Vote hygiene before ranking (shared/reference/arena-math.md §1, after FastChat's
/// `clean_battle_data.py`): self-battles out, a per-voter daily cap, and a cap on battles from
/// one repeated prompt. Votes are kept in log order, so the first ones within a cap count.
public struct VoteHygiene: Sendable {
    /// Most votes counted per judge per UTC day (nil: no cap).
    public var dailyCapPerVoter: Int?
    /// Most battles counted per identical prompt text (nil: no cap).
    public var battlesPerPrompt: Int?

    public init(dailyCapPerVoter: Int? = nil, battlesPerPrompt: Int? = nil) {
        self.dailyCapPerVoter = dailyCapPerVoter
        self.battlesPerPrompt = battlesPerPrompt
    }

    public enum Reason: String, Sendable, CaseIterable {
        case selfBattle = "self-battle"
        case voterDailyCap = "voter daily cap"
        case repeatedPrompt = "repeated prompt"
    }

    /// The battles that count, and how many were dropped for each reason.
    public func apply(_ battles: [Battle]) -> (kept: [Battle], dropped: [Reason: Int]) {
        var kept: [Battle] = []
        var dropped: [Reason: Int] = [:]
        var perVoterDay: [String: Int] = [:]
        var perPrompt: [String: Int] = [:]
        for b in battles {
            if b.modelA == b.modelB { dropped[.selfBattle, default: 0] += 1; continue }
            if let cap = dailyCapPerVoter, let judge = b.judge {
                let day = Int(((b.tstamp ?? 0) / 86_400).rounded(.down))
                let key = "\(judge)|\(day)"
                if perVoterDay[key, default: 0] >= cap { dropped[.voterDailyCap, default: 0] += 1; continue }
                perVoterDay[key, default: 0] += 1
            }
            if let cap = battlesPerPrompt, let prompt = b.prompt {
                if perPrompt[prompt, default: 0] >= cap { dropped[.repeatedPrompt, default: 0] += 1; continue }
                perPrompt[prompt, default: 0] += 1
            }
            kept.append(b)
        }
        return (kept, dropped)
    }
}

extension Leaderboard {
    /// One board per category (battles without a category are left out), same options.
    public static func byCategory(_ battles: [Battle], options: Options = Options()) -> [String: Leaderboard] {
        var groups: [String: [Battle]] = [:]
        for b in battles { if let c = b.category { groups[c, default: []].append(b) } }
        return groups.mapValues { Leaderboard(battles: $0, options: options) }
    }
}

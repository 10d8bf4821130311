import Foundation
import LumenArena

/// One blind battle: the same prompt and settings on two models, shown as left and right.
public struct BattleRecord: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case generating, ready, failed, voted, expired }

    public var id: String
    public var prompt: String
    public var category: String?
    /// The models as drawn (A, B); `swapped` says whether A is shown on the right.
    public var modelA: String
    public var modelB: String
    public var swapped: Bool
    public var seed: Int64
    public var jobLeft: String
    public var jobRight: String
    public var status: Status
    public var createdAt: Double
    /// When both pictures were first returned to the voter.
    public var shownAt: Double?
    public var expiresAt: Double
    /// Set when the names were revealed (by the vote, or asked for before it).
    public var revealedAt: Double?
    /// Hashed voter id of whoever started the battle.
    public var voter: String

    public var leftModel: String { swapped ? modelB : modelA }
    public var rightModel: String { swapped ? modelA : modelB }

    enum CodingKeys: String, CodingKey {
        case id, prompt, category, modelA = "model_a", modelB = "model_b", swapped, seed, jobLeft = "job_left", jobRight = "job_right"
        case status, createdAt = "created_at", shownAt = "shown_at", expiresAt = "expires_at", revealedAt = "revealed_at", voter
    }

    public static func newID() -> String { "battle_" + randomHex() }
}

/// A vote on a battle, in the voter's terms (sides) and in FastChat's (winner between A and B).
public struct VoteRecord: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable, CaseIterable { case left, right, tie, bothBad = "both_bad" }

    public var battleID: String
    public var voter: String
    public var outcome: Outcome
    /// False when the names were revealed before the vote: stored, never ranked.
    public var anonymous: Bool
    public var createdAt: Double

    enum CodingKeys: String, CodingKey {
        case battleID = "battle_id", voter, outcome, anonymous, createdAt = "created_at"
    }

    /// The battle in FastChat's clean-battle terms, with `model_a` the left picture (as FastChat
    /// logs it), so the leaderboard's position bias is the left side's advantage.
    public func battle(_ b: BattleRecord) -> Battle {
        let winner: BattleWinner
        switch outcome {
        case .tie: winner = .tie
        case .bothBad: winner = .bothBad
        case .left: winner = .modelA
        case .right: winner = .modelB
        }
        return Battle(modelA: b.leftModel, modelB: b.rightModel, winner: winner, judge: voter, anony: anonymous, tstamp: createdAt,
                      prompt: b.prompt, category: b.category)
    }
}

/// Battles and votes, behind a small interface like `JobStore`.
public protocol ArenaStore: Sendable {
    func insert(_ battle: BattleRecord) async throws
    func battle(_ id: String) async throws -> BattleRecord?
    func update(_ battle: BattleRecord) async throws
    /// Stores the vote unless the battle already has one; returns false when it had.
    func addVote(_ vote: VoteRecord) async throws -> Bool
    func vote(battleID: String) async throws -> VoteRecord?
    /// Every voted battle with its vote, oldest first.
    func votedBattles() async throws -> [(BattleRecord, VoteRecord)]
    /// Votes per model (anonymous ones), for drawing models with few votes more often.
    func voteCounts() async throws -> [String: Int]
}

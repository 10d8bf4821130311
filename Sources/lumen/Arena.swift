import ArgumentParser
import Foundation
import LumenArena

struct Arena: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Arena tools: rank battle logs offline.", subcommands: [Rank.self])

    struct Rank: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rank models from a FastChat clean-battle JSON log with Bradley–Terry (same code as the server).")

        @Argument(help: "A JSON array of battles (model_a, model_b, winner, judge, anony, tstamp).") var file: String
        @Flag(name: .long, help: "Print JSON.") var json = false
        @Flag(name: .long, help: "Count every vote, not only anonymous ones.") var all = false
        @Option(name: .long, help: "Bootstrap rounds for a second 95% interval (0: off).") var bootstrap: Int = 0
        @Option(name: .long, help: "Bootstrap seed.") var seed: UInt64 = 42
        @Option(name: .long, help: "Models with fewer votes are marked provisional.") var minVotes: Int = 0
        @Option(name: .long, help: "Count at most this many votes per judge per UTC day.") var dailyCap: Int?
        @Option(name: .long, help: "Count at most this many battles per identical prompt (logs with a prompt field).") var promptCap: Int?

        func validate() throws {
            if bootstrap < 0 || bootstrap > 100_000 { throw ValidationError("--bootstrap must be between 0 and 100000") }
            if let c = dailyCap, c < 1 { throw ValidationError("--daily-cap must be at least 1") }
            if let c = promptCap, c < 1 { throw ValidationError("--prompt-cap must be at least 1") }
        }

        func run() throws {
            try reportingErrors {
                let (battles, dropped) = VoteHygiene(dailyCapPerVoter: dailyCap, battlesPerPrompt: promptCap).apply(try BattleLog.load(path: file))
                var options = Leaderboard.Options()
                options.anonymousOnly = !all
                options.bootstrapRounds = bootstrap
                options.seed = seed
                options.minimumVotes = minVotes
                let board = Leaderboard(battles: battles, options: options)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(board), as: UTF8.self))
                    return
                }
                print("\(board.votes) \(all ? "" : "anonymous ")votes, \(board.entries.count) models")
                for (reason, count) in dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { print("dropped \(count) (\(reason.rawValue))") }
                var header = "rank  rating     95% CI (sandwich)      "
                if bootstrap > 0 { header += "95% CI (bootstrap)     " }
                print(header + "votes   elo      model")
                for e in board.entries {
                    var line = String(format: "%4d  %9.4f  [%9.4f, %9.4f]  ", e.rank, e.rating, e.lower, e.upper)
                    if let l = e.bootstrapLower, let u = e.bootstrapUpper { line += String(format: "[%9.4f, %9.4f]  ", l, u) }
                    line += String(format: "%5d  %8.2f  ", e.votes, e.elo) + e.model + (e.provisional ? " (provisional)" : "")
                    print(line)
                }
                print(String(format: "position bias: left +%.1f rating points, %.1f%% of decisive votes went left", board.positionBias, 100 * board.leftWinShare))
            }
        }
    }
}

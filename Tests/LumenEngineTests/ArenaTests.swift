import Foundation
import LumenArena
import Testing

/// Bradley–Terry ratings against the reference values in shared/reference/arena-math.md.
@Suite struct ArenaTests {
    static func rows(_ spec: String) -> [Battle] {
        spec.split(separator: ",").map { row in
            let p = row.trimmingCharacters(in: .whitespaces).split(separator: " ")
            let w: BattleWinner = p[2] == "L" ? .modelA : p[2] == "R" ? .modelB : .tie
            return Battle(modelA: String(p[0]), modelB: String(p[1]), winner: w)
        }
    }

    static let simple = rows("0 1 T, 0 2 R, 0 2 T, 0 4 T, 1 0 L, 1 2 T, 1 2 T, 1 3 T, 2 4 T, 3 0 L, 3 1 L, 3 2 L, 3 4 T, 3 4 T, 4 0 L, 4 3 L")

    @Test func simpleVectorMatchesReference() {
        let board = Leaderboard(battles: Self.simple)
        let expected: [String: (Double, Double, Int, Double)] = [
            "4": (1136.2407, 88.84, 1, 1004.0562), "3": (1129.8687, 69.76, 1, 1003.8862), "2": (966.6896, 59.60, 1, 999.9773),
            "1": (965.9824, 60.19, 1, 999.9772), "0": (801.2185, 83.01, 2, 992.1031),
        ]
        for e in board.entries {
            let (rating, se, rank, elo) = expected[e.model]!
            #expect(abs(e.rating - rating) < 1e-3, "\(e.model) rating \(e.rating)")
            #expect(abs(e.standardError - se) < 0.01, "\(e.model) se \(e.standardError)")
            #expect(e.rank == rank)
            #expect(abs(e.elo - elo) < 1e-3)
        }
        let mean: Double = board.entries.map(\.rating).reduce(0, +) / 5
        #expect(abs(mean - 1000) < 1e-9)
    }

    @Test func wikipediaExample() {
        var battles: [Battle] = []
        for (a, b, wa, wb) in [("A", "B", 2, 3), ("A", "D", 1, 4), ("B", "C", 5, 3), ("C", "D", 1, 3)] {
            battles += Array(repeating: Battle(modelA: a, modelB: b, winner: .modelA), count: wa)
            battles += Array(repeating: Battle(modelA: a, modelB: b, winner: .modelB), count: wb)
        }
        let bt = BradleyTerry(battles)
        let theta = bt.fit().theta
        let expected = ["A": 0.640, "B": 1.043, "C": 0.660, "D": 2.270]
        for (i, m) in bt.models.enumerated() {
            #expect(abs(exp(theta[i]) - expected[m]!) / expected[m]! < 1e-3, "\(m)")
        }
    }

    @Test func genaiArenaReference() throws {
        let path = Fixtures.path("genai-arena-t2i-battles-20240220.json")
        let battles = try BattleLog.load(path: path)
        let anonymous: [String: Double] = ["PlayGroundV2": 1151.3055, "PixArtAlpha": 1078.4039, "SDXL": 1027.2059,
                                           "SDXLTurbo": 972.1324, "OpenJourney": 921.3144, "LCM": 849.6379]
        let all: [String: Double] = ["PlayGroundV2": 1150.9711, "PixArtAlpha": 1069.8219, "SDXL": 1035.3888,
                                     "SDXLTurbo": 969.4558, "OpenJourney": 906.2429, "LCM": 868.1195]
        for (anonymousOnly, expected) in [(true, anonymous), (false, all)] {
            var o = Leaderboard.Options()
            o.anonymousOnly = anonymousOnly
            let board = Leaderboard(battles: battles, options: o)
            for e in board.entries {
                let short = e.model.replacingOccurrences(of: "imagenhub_", with: "").replacingOccurrences(of: "_generation", with: "")
                #expect(abs(e.rating - expected[short]!) < 0.01, "\(short): \(e.rating)")
            }
            if anonymousOnly { #expect(board.entries.map(\.rank) == [1, 2, 3, 4, 5, 6]) }
        }
    }

    @Test func swappingSidesAndOrderChangeNothing() {
        let board = Leaderboard(battles: Self.simple)
        let swapped = Self.simple.map { b in
            Battle(modelA: b.modelB, modelB: b.modelA, winner: b.winner == .modelA ? .modelB : b.winner == .modelB ? .modelA : b.winner)
        }
        let other = Leaderboard(battles: swapped.reversed())
        for (x, y) in zip(board.entries, other.entries) {
            #expect(x.model == y.model)
            #expect(abs(x.rating - y.rating) < 1e-9)
        }
    }

    @Test func tieIsHalfWinHalfLoss() {
        let ties = Leaderboard(battles: [Battle(modelA: "x", modelB: "y", winner: .tie), Battle(modelA: "x", modelB: "y", winner: .modelA),
                                         Battle(modelA: "x", modelB: "y", winner: .modelB)])
        let split = Leaderboard(battles: [Battle(modelA: "x", modelB: "y", winner: .modelA), Battle(modelA: "x", modelB: "y", winner: .modelB),
                                          Battle(modelA: "x", modelB: "y", winner: .bothBad)])
        #expect(abs(ties.entries[0].rating - 1000) < 1e-9)
        #expect(abs(split.entries[0].rating - ties.entries[0].rating) < 1e-9)
    }

    @Test func unknownLabelIsAnError() {
        let data = Data(#"[{"model_a":"a","model_b":"b","winner":"draw","anony":true}]"#.utf8)
        #expect { try BattleLog.decode(data) } throws: { "\($0)".contains("unknown winner 'draw'") }
    }

    @Test func undefeatedModelIsMarkedNotInfinite() {
        let battles = (0..<5).map { _ in Battle(modelA: "champ", modelB: "b", winner: .modelA) }
            + [Battle(modelA: "b", modelB: "c", winner: .modelA), Battle(modelA: "c", modelB: "b", winner: .modelA)]
        let board = Leaderboard(battles: battles)
        let champ = board.entries.first { $0.model == "champ" }!
        #expect(champ.rating.isFinite)
        #expect(champ.separated)
        #expect(champ.provisional)
        let finite = board.entries.allSatisfy { (e: LeaderboardEntry) -> Bool in e.rating.isFinite && e.upper.isFinite }
        #expect(finite)
    }

    @Test func bootstrapAgreesWithSandwich() {
        var rng = SplitMix64(seed: 3)
        let strengths = ["a": 0.8, "b": 0.2, "c": -0.3, "d": -0.7]
        let names = strengths.keys.sorted()
        var battles: [Battle] = []
        for _ in 0..<3000 {
            let i = Int(rng.next() % 4), j = (i + 1 + Int(rng.next() % 3)) % 4
            let p = 1 / (1 + exp(-(strengths[names[i]]! - strengths[names[j]]!)))
            battles.append(Battle(modelA: names[i], modelB: names[j], winner: rng.nextDouble() < p ? .modelA : .modelB))
        }
        var o = Leaderboard.Options()
        o.bootstrapRounds = 200
        let board = Leaderboard(battles: battles, options: o)
        for e in board.entries {
            let upper: Double = e.bootstrapUpper ?? .infinity
            let lower: Double = e.bootstrapLower ?? -.infinity
            let bootHalf: Double = (upper - lower) / 2
            let sandwichHalf: Double = (e.upper - e.lower) / 2
            let gap: Double = abs(bootHalf - sandwichHalf)
            #expect(gap < 5, "\(e.model): bootstrap ±\(bootHalf) vs sandwich ±\(sandwichHalf)")
        }
    }
}

@Suite struct VoteHygieneTests {
    @Test func capsAndSelfBattlesAreDropped() {
        let day: Double = 86_400 * 20_000
        var battles = [Battle(modelA: "a", modelB: "a", winner: .tie, judge: "u1", tstamp: day)]
        battles += (0..<5).map { i in Battle(modelA: "a", modelB: "b", winner: .modelA, judge: "u1", tstamp: day + Double(i), prompt: "p\(i)") }
        battles += [Battle(modelA: "a", modelB: "b", winner: .modelB, judge: "u1", tstamp: day + 86_400, prompt: "p0")]
        battles += (0..<3).map { i in Battle(modelA: "b", modelB: "c", winner: .tie, judge: "u\(i + 2)", tstamp: day, prompt: "same") }
        let (kept, dropped) = VoteHygiene(dailyCapPerVoter: 3, battlesPerPrompt: 2).apply(battles)
        #expect(dropped[.selfBattle] == 1)
        #expect(dropped[.voterDailyCap] == 2)   // u1's 4th and 5th vote on the first day
        #expect(dropped[.repeatedPrompt] == 1)  // the third "same" ("p0" twice is within the cap)
        #expect(kept.count == battles.count - 4)
    }

    @Test func categoryBoardsAndFieldsRoundTrip() throws {
        let battles = [Battle(modelA: "a", modelB: "b", winner: .modelA, prompt: "a cat", category: "photo"),
                       Battle(modelA: "a", modelB: "b", winner: .modelB, prompt: "a lake", category: "landscape"),
                       Battle(modelA: "a", modelB: "b", winner: .modelA)]
        let boards = Leaderboard.byCategory(battles)
        #expect(Set(boards.keys) == ["photo", "landscape"])
        #expect(boards["photo"]!.votes == 1)
        let decoded = try BattleLog.decode(try BattleLog.encode(battles))
        #expect(decoded == battles)
    }
}

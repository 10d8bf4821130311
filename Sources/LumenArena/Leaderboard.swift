import Foundation

/// One model's row on the leaderboard.
public struct LeaderboardEntry: Codable, Sendable, Equatable {
    public var model: String
    public var rating: Double
    /// 95% interval from the sandwich estimator.
    public var lower: Double
    public var upper: Double
    public var standardError: Double
    /// 95% interval from the seeded bootstrap (nil when no rounds were asked).
    public var bootstrapLower: Double?
    public var bootstrapUpper: Double?
    /// 1 + the number of models whose lower bound is above this model's upper bound.
    public var rank: Int
    public var votes: Int
    public var wins: Double
    /// Fewer votes than the minimum, or a model that never lost / never won (its unregularised
    /// rating would be infinite; it is fitted with a small ridge instead).
    public var provisional: Bool
    public var separated: Bool
    /// Online Elo (K = 4, vote order): a secondary, order-dependent figure.
    public var elo: Double
}

/// A leaderboard computed from a battle log.
public struct Leaderboard: Codable, Sendable {
    public var entries: [LeaderboardEntry]
    public var votes: Int
    public var lastUpdated: Double?
    /// Left-side (model_a) advantage in rating points from a BT fit with a shared home term.
    public var positionBias: Double
    /// Share of decisive votes that went to the left picture.
    public var leftWinShare: Double
    /// `winRates[a][b]`: score of a against b (wins + half the ties) ÷ their battles.
    public var winRates: [String: [String: Double]]

    public struct Options: Sendable {
        public var anonymousOnly = true
        public var bootstrapRounds = 0
        public var seed: UInt64 = 42
        public var minimumVotes = 0
        public var eloK = 4.0
        public init() {}
    }

    public init(battles allBattles: [Battle], options: Options = Options()) {
        let battles = allBattles.filter { (!options.anonymousOnly || $0.anony) && $0.modelA != $0.modelB }
        let bt = BradleyTerry(battles)
        let k = bt.models.count
        votes = bt.voteCount
        lastUpdated = battles.compactMap(\.tstamp).max()

        // Per-model tallies and separation (never lost / never won).
        var wins = [Double](repeating: 0, count: k), games = [Double](repeating: 0, count: k)
        var lost = [Bool](repeating: false, count: k), won = [Bool](repeating: false, count: k)
        var pair = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        var pairGames = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for t in bt.triples {
            wins[t.a] += t.score * t.count; wins[t.b] += (1 - t.score) * t.count
            games[t.a] += t.count; games[t.b] += t.count
            if t.score < 1 { lost[t.a] = true; won[t.b] = true }
            if t.score > 0 { won[t.a] = true; lost[t.b] = true }
            pair[t.a][t.b] += t.score * t.count; pair[t.b][t.a] += (1 - t.score) * t.count
            pairGames[t.a][t.b] += t.count; pairGames[t.b][t.a] += t.count
        }
        let separated = (0..<k).map { !lost[$0] || !won[$0] }
        let ridge = separated.contains(true) ? 1e-2 : 0
        let theta = bt.fit(ridge: ridge).theta
        let se = bt.sandwichStandardErrors(theta: theta)
        let ratings = theta.map { 1000 + BradleyTerry.scale * $0 }

        var bootLower: [Double?] = Array(repeating: nil, count: k), bootUpper: [Double?] = Array(repeating: nil, count: k)
        if options.bootstrapRounds > 0 && k > 1 {
            var rng = SplitMix64(seed: options.seed)
            let cumulative = bt.triples.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1.count) }
            let total = cumulative.last ?? 0
            var samples = [[Double]](repeating: [], count: k)
            for _ in 0..<options.bootstrapRounds {
                // Multinomial(N, w/N) over the unique triples: N weighted draws.
                var counts = [Double](repeating: 0, count: bt.triples.count)
                for _ in 0..<bt.voteCount {
                    let u = rng.nextDouble() * total
                    var lo = 0, hi = cumulative.count - 1
                    while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] > u { hi = mid } else { lo = mid + 1 } }
                    counts[lo] += 1
                }
                let th = bt.fit(counts: counts, ridge: max(ridge, 1e-6)).theta
                for i in 0..<k { samples[i].append(1000 + BradleyTerry.scale * th[i]) }
            }
            for i in 0..<k {
                bootLower[i] = Self.quantile(samples[i], 0.025)
                bootUpper[i] = Self.quantile(samples[i], 0.975)
            }
        }

        // Online Elo in vote order.
        var elo = [Double](repeating: 1000, count: k)
        let index = Dictionary(uniqueKeysWithValues: bt.models.enumerated().map { ($1, $0) })
        for b in battles {
            let a = index[b.modelA]!, c = index[b.modelB]!
            let expected = 1 / (1 + pow(10, (elo[c] - elo[a]) / 400))
            let delta = options.eloK * (b.winner.scoreA - expected)
            elo[a] += delta
            elo[c] -= delta
        }

        let z = 1.959963984540054
        let lower = (0..<k).map { ratings[$0] - z * se[$0] }, upper = (0..<k).map { ratings[$0] + z * se[$0] }
        var rows = (0..<k).map { i in
            LeaderboardEntry(model: bt.models[i], rating: ratings[i], lower: lower[i], upper: upper[i], standardError: se[i],
                             bootstrapLower: bootLower[i], bootstrapUpper: bootUpper[i],
                             rank: 1 + (0..<k).filter { lower[$0] > upper[i] }.count,
                             votes: Int(games[i]), wins: wins[i],
                             provisional: separated[i] || Int(games[i]) < options.minimumVotes,
                             separated: separated[i], elo: elo[i])
        }
        rows.sort { ($0.rank, -$0.rating, $0.model) < ($1.rank, -$1.rating, $1.model) }
        entries = rows

        let home = k > 1 ? bt.fit(ridge: max(ridge, 1e-9), homeAdvantage: true).home : 0
        positionBias = BradleyTerry.scale * home
        let decisive = battles.filter { $0.winner == .modelA || $0.winner == .modelB }
        leftWinShare = decisive.isEmpty ? 0.5 : Double(decisive.filter { $0.winner == .modelA }.count) / Double(decisive.count)
        var rates: [String: [String: Double]] = [:]
        for i in 0..<k {
            for j in 0..<k where pairGames[i][j] > 0 { rates[bt.models[i], default: [:]][bt.models[j]] = pair[i][j] / pairGames[i][j] }
        }
        winRates = rates
    }

    /// Linear-interpolated quantile (NumPy's default).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let s = values.sorted()
        guard s.count > 1 else { return s.first ?? .nan }
        let pos = q * Double(s.count - 1)
        let i = Int(pos.rounded(.down)), f = pos - Double(i)
        return i + 1 < s.count ? s[i] + f * (s[i + 1] - s[i]) : s[i]
    }
}

/// A small seeded generator (SplitMix64, Steele et al. 2014) for reproducible bootstraps.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}

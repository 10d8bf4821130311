import Foundation

/// Bradley–Terry maximum likelihood over pairwise votes (Bradley & Terry 1952; the LMArena /
/// FastChat leaderboard method, see `shared/reference/arena-math.md` §2–§4):
/// `P(A beats B) = σ(θ_A − θ_B)`, a tie counts as half a win and half a loss, fitted by Newton's
/// method from θ = 0 with Σθ = 0, reported as `1000 + 400·θ / ln 10`.
///
/// The linear algebra is a dense Cholesky solve written here: systems are tiny (one row per
/// model) and the arena target should not depend on BLAS/LAPACK.
public struct BradleyTerry: Sendable {
    public static let scale = 400 / log(10.0)

    /// Votes aggregated into unique (a, b, outcome) triples with counts.
    public struct Triple: Sendable, Equatable {
        public var a: Int, b: Int, score: Double, count: Double
    }

    public let models: [String]
    public let triples: [Triple]
    public let voteCount: Int

    public init(_ battles: [Battle]) {
        var index: [String: Int] = [:]
        var names: [String] = []
        func id(_ name: String) -> Int {
            if let i = index[name] { return i }
            index[name] = names.count
            names.append(name)
            return names.count - 1
        }
        var counts: [[Double]: Double] = [:]
        var order: [[Double]] = []
        for b in battles where b.modelA != b.modelB {
            let key = [Double(id(b.modelA)), Double(id(b.modelB)), b.winner.scoreA]
            if counts[key] == nil { order.append(key) }
            counts[key, default: 0] += 1
        }
        // Models sorted by name so the fit does not depend on vote order.
        let sorted = names.sorted()
        let remap = names.map { sorted.firstIndex(of: $0)! }
        models = sorted
        triples = order.map { k in Triple(a: remap[Int(k[0])], b: remap[Int(k[1])], score: k[2], count: counts[k]!) }
            .sorted { ($0.a, $0.b, $0.score) < ($1.a, $1.b, $1.score) }
        voteCount = Int(triples.reduce(0) { $0 + $1.count })
    }

    static func sigmoid(_ z: Double) -> Double { z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)) }

    /// Fits θ (natural-log strengths, Σθ = 0) by Newton's method on the given counts.
    /// `ridge` adds `ridge·‖θ‖²/2`, used only when some model never lost or never won (the
    /// unregularised optimum is then at infinity).
    public func fit(counts: [Double]? = nil, ridge: Double = 0, homeAdvantage: Bool = false) -> (theta: [Double], home: Double) {
        let k = models.count
        let n = k + (homeAdvantage ? 1 : 0)
        var theta = [Double](repeating: 0, count: n)
        let w = counts ?? triples.map(\.count)
        for _ in 0..<100 {
            var g = [Double](repeating: 0, count: n)
            var h = [Double](repeating: 0, count: n * n)
            for (t, c) in zip(triples, w) where c > 0 {
                let z = theta[t.a] - theta[t.b] + (homeAdvantage ? theta[k] : 0)
                let p = Self.sigmoid(z)
                let r = (t.score - p) * c
                let v = p * (1 - p) * c
                var idx = [(t.a, 1.0), (t.b, -1.0)]
                if homeAdvantage { idx.append((k, 1.0)) }
                for (i, si) in idx {
                    g[i] -= si * r
                    for (j, sj) in idx { h[i * n + j] += si * sj * v }
                }
            }
            for i in 0..<n {
                g[i] += ridge * theta[i]
                h[i * n + i] += ridge + 1e-9 * Double(max(voteCount, 1))
            }
            guard let delta = Self.solve(h, g, n) else { break }
            var step = 0.0
            for i in 0..<n { theta[i] -= delta[i]; step = max(step, abs(delta[i])) }
            let mean = theta.prefix(k).reduce(0, +) / Double(max(k, 1))
            for i in 0..<k { theta[i] -= mean }
            if step < 1e-12 { break }
        }
        return (Array(theta.prefix(k)), homeAdvantage ? theta[k] : 0)
    }

    /// Solves `A x = b` for a symmetric positive-definite `A` (n × n, row-major) by Cholesky.
    static func solve(_ a: [Double], _ b: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for m in 0..<j { s -= l[i * n + m] * l[j * n + m] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = b[i]
            for m in 0..<i { s -= l[i * n + m] * y[m] }
            y[i] = s / l[i * n + i]
        }
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for m in (i + 1)..<n where m < n { s -= l[m * n + i] * x[m] }
            x[i] = s / l[i * n + i]
        }
        return x
    }

    /// Inverse of a symmetric positive-definite matrix (columns solved one by one).
    static func inverse(_ a: [Double], _ n: Int) -> [Double]? {
        var inv = [Double](repeating: 0, count: n * n)
        for c in 0..<n {
            var e = [Double](repeating: 0, count: n)
            e[c] = 1
            guard let col = solve(a, e, n) else { return nil }
            for r in 0..<n { inv[r * n + c] = col[r] }
        }
        return inv
    }

    /// Sandwich standard errors in rating points (arena-rank): `Cov = (H+λI)⁻¹ G (H+λI)⁻¹`,
    /// `G = Σ w (o − p)² (e_a − e_b)(e_a − e_b)ᵀ`, λ = 1e-5·N.
    public func sandwichStandardErrors(theta: [Double]) -> [Double] {
        let n = models.count
        var h = [Double](repeating: 0, count: n * n), g = [Double](repeating: 0, count: n * n)
        for t in triples {
            let p = Self.sigmoid(theta[t.a] - theta[t.b])
            let v = p * (1 - p) * t.count, r2 = (t.score - p) * (t.score - p) * t.count
            for (i, si) in [(t.a, 1.0), (t.b, -1.0)] {
                for (j, sj) in [(t.a, 1.0), (t.b, -1.0)] {
                    h[i * n + j] += si * sj * v
                    g[i * n + j] += si * sj * r2
                }
            }
        }
        let lambda = 1e-5 * Double(voteCount)
        for i in 0..<n { h[i * n + i] += lambda }
        guard let hi = Self.inverse(h, n) else { return Array(repeating: .infinity, count: n) }
        func mul(_ x: [Double], _ y: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for k in 0..<n where x[i * n + k] != 0 { for j in 0..<n { out[i * n + j] += x[i * n + k] * y[k * n + j] } } }
            return out
        }
        let cov = mul(mul(hi, g), hi)
        return (0..<n).map { Self.scale * max(cov[$0 * n + $0], 0).squareRoot() }
    }
}

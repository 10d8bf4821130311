import Crypto
import Foundation
import Hummingbird
import LumenArena
import LumenService

/// The arena: blind side-by-side battles, one vote each, and the Bradley–Terry leaderboard
/// computed with the same `LumenArena` code as `lumen arena rank`.
///
/// Nothing names a model before the vote: battle responses carry only picture URLs (random file
/// names), the pictures are written with the model left out of their parameters text and C2PA
/// manifest (the watermark never names it), their jobs and pictures are hidden from the job and
/// history APIs, both pictures are returned together (no per-side timing), and errors say "one of
/// the models" rather than which.
struct ArenaController {
    typealias Context = LumenRequestContext
    let state: ServerState
    static let battleLifetime: Double = 3600
    static let voterCookie = "lumen_voter"

    func addRoutes(to router: Router<Context>) {
        router.post("/v1/arena/battles") { request, context in try await start(request, context) }
        router.get("/v1/arena/battles/:id") { _, context in try jsonResponse(try await view(try await requireBattle(context))) }
        router.post("/v1/arena/battles/:id/vote") { request, context in try await vote(request, context) }
        router.post("/v1/arena/battles/:id/reveal") { _, context in
            var battle = try await requireBattle(context)
            guard battle.status == .ready || battle.status == .voted else {
                throw APIError(.conflict, "The battle has no pictures to reveal yet.", code: "battle_not_ready")
            }
            if battle.revealedAt == nil {
                battle.revealedAt = Date().timeIntervalSince1970
                try await state.arena.update(battle)
            }
            return try jsonResponse(try await view(battle))
        }
        router.get("/v1/arena/leaderboard") { request, _ in try await leaderboard(request) }
        router.get("/v1/arena/log") { _, _ in
            let battles = try await state.arena.votedBattles().map { $1.battle($0) }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(data: try BattleLog.encode(battles))))
        }
        router.get("/v1/arena/prompts") { _, _ in
            try jsonResponse(["data": ArenaPrompts.byCategory.map { PromptGroup(category: $0.category, prompts: $0.prompts) }])
        }
    }

    struct PromptGroup: Encodable { var category: String; var prompts: [String] }

    // MARK: Battles

    struct Side: Encodable {
        var image_url: String?
        var model: String?
    }

    struct BattleView: Encodable {
        var id: String
        var object = "arena.battle"
        var prompt: String
        var category: String?
        var status: String
        var expires_at: Int
        var left: Side
        var right: Side
        var revealed: Bool
        var vote: String?
        var anonymous: Bool?
    }

    func view(_ b: BattleRecord) async throws -> BattleView {
        let revealed = b.revealedAt != nil
        let vote = try await state.arena.vote(battleID: b.id)
        func side(_ job: String, _ model: String) async throws -> Side {
            let image = try await state.store.images(jobID: job).first
            return Side(image_url: image.map { "/v1/images/files/\($0.fileName)" }, model: revealed ? model : nil)
        }
        return BattleView(id: b.id, prompt: b.prompt, category: b.category,
                          status: b.status == .ready && Date().timeIntervalSince1970 > b.expiresAt ? "expired" : b.status.rawValue,
                          expires_at: Int(b.expiresAt), left: try await side(b.jobLeft, b.leftModel),
                          right: try await side(b.jobRight, b.rightModel), revealed: revealed,
                          vote: vote?.outcome.rawValue, anonymous: vote?.anonymous)
    }

    func requireBattle(_ context: Context) async throws -> BattleRecord {
        let id = context.parameters.get("id") ?? ""
        guard id.hasPrefix("battle_"), id.count == 39, let b = try await state.arena.battle(id) else {
            throw APIError.notFound("No battle with id '\(id.prefix(80))'.", code: "battle_not_found")
        }
        return b
    }

    /// The voter: the API key's name, else a random id kept in a cookie; stored hashed.
    func voter(_ request: Request, _ context: Context) -> (hashed: String, newCookie: String?) {
        var raw: String
        var cookie: String?
        if let name = context.identity?.name {
            raw = "key:" + name
        } else if let value = request.cookies[Self.voterCookie]?.value, value.count == 32, value.allSatisfy(\.isHexDigit) {
            raw = "cookie:" + value
        } else {
            let fresh = randomHex()
            cookie = fresh
            raw = "cookie:" + fresh
        }
        let digest = SHA256.hash(data: Data(("lumen-voter:" + raw).utf8))
        return (digest.prefix(8).map { String(format: "%02x", $0) }.joined(), cookie)
    }

    /// Draws two different available models, favouring those with few votes (weight 1/√(1 + votes)).
    func drawModels(region: String?) async throws -> (String, String) {
        let available = state.catalog.models.filter {
            $0.available && state.configuration.regionPolicy.withholding(model: $0.id, region: region) == nil
        }.map(\.id)
        guard available.count >= 2 else {
            throw APIError(.serviceUnavailable, "The arena needs at least two available models; this server has \(available.count).",
                           type: "server_error", code: "arena_unavailable")
        }
        let counts = try await state.arena.voteCounts()
        var g = SystemRandomNumberGenerator()
        func pick(_ pool: [String]) -> String {
            let weights = pool.map { 1 / (1 + Double(counts[$0, default: 0])).squareRoot() }
            var r = Double.random(in: 0..<weights.reduce(0, +), using: &g)
            for (m, w) in zip(pool, weights) {
                if r < w { return m }
                r -= w
            }
            return pool[pool.count - 1]
        }
        let a = pick(available)
        let b = pick(available.filter { $0 != a })
        return (a, b)
    }

    func start(_ request: Request, _ context: Context) async throws -> Response {
        let body = try await ServerState.body(request, context: context)
        var prompt: String?, category: String?
        if !body.isEmpty {
            guard case let .object(j)? = try? JSONDecoder().decode(JSONValue.self, from: body) else {
                throw APIError.invalid(nil, "Send a JSON object with an optional 'prompt' and 'category'.", code: "invalid_json")
            }
            for key in j.keys where key != "prompt" && key != "category" {
                throw APIError.invalid(key, "Unknown parameter: '\(key)'.", code: "unknown_parameter")
            }
            if let v = j["prompt"], v != .null {
                let p = try ImagesRequest.string(v, "prompt", max: ImagesRequest.maxPromptLength)
                if !p.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { prompt = p }
            }
            if let v = j["category"], v != .null { category = try ImagesRequest.choice(v, "category", ArenaPrompts.categories + ["custom"]) }
        }
        var g = SystemRandomNumberGenerator()
        if prompt == nil {
            let drawn = ArenaPrompts.draw(category: category == "custom" ? nil : category, using: &g)
            prompt = drawn.0
            category = drawn.1
        }
        let (modelA, modelB) = try await drawModels(region: state.region(request, context: context))
        let swapped = Bool.random(using: &g)
        let seed = UInt64.random(in: 0..<(1 << 32), using: &g)
        let (voterID, cookie) = voter(request, context)
        let now = Date().timeIntervalSince1970

        // Same prompt, seed and quality on both; each model at its own size and recommended steps.
        var jobs: [JobRecord] = []
        for model in swapped ? [modelB, modelA] : [modelA, modelB] {
            let info = try state.catalog.resolve(model)
            let settings = GenerationSettings(model: model, prompt: prompt ?? "", width: info.defaultWidth, height: info.defaultHeight,
                                              steps: info.defaultSteps, guidance: info.defaultGuidance, seed: seed)
            jobs.append(JobRecord(user: "arena:" + voterID, settings: settings, hideModel: true))
        }
        var battle = BattleRecord(id: BattleRecord.newID(), prompt: prompt ?? "", category: category ?? "custom", modelA: modelA, modelB: modelB,
                                  swapped: swapped, seed: Int64(seed), jobLeft: jobs[0].id, jobRight: jobs[1].id, status: .generating,
                                  createdAt: now, shownAt: nil, expiresAt: now + Self.battleLifetime, revealedAt: nil, voter: voterID)
        try await state.arena.insert(battle)
        let streams = jobs.map { state.events.subscribe($0.id) }
        for job in jobs { _ = try await state.submit(job) }
        // Both pictures are returned together, so timing does not tell the sides apart.
        for stream in streams {
            for await event in stream {
                switch event {
                case .succeeded: break
                case .failed, .cancelled:
                    battle.status = .failed
                    try await state.arena.update(battle)
                    throw APIError(.internalServerError, "One of the two models failed to make its picture; start another battle.",
                                   type: "server_error", code: "battle_failed").noRetry()
                default: continue
                }
            }
        }
        battle.status = .ready
        battle.shownAt = Date().timeIntervalSince1970
        try await state.arena.update(battle)
        var response = try jsonResponse(try await view(battle), status: .created)
        if let cookie {
            response.headers[.setCookie] = "\(Self.voterCookie)=\(cookie); Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
        }
        return response
    }

    struct VoteResult: Encodable {
        var battle_id: String
        var outcome: String
        var anonymous: Bool
        var left_model: String
        var right_model: String
    }

    func vote(_ request: Request, _ context: Context) async throws -> Response {
        let battle = try await requireBattle(context)
        let body = try await ServerState.body(request, context: context)
        guard case let .object(j)? = try? JSONDecoder().decode(JSONValue.self, from: body), let v = j["outcome"] else {
            throw APIError.invalid("outcome", "Send {\"outcome\": \"left\" | \"right\" | \"tie\" | \"both_bad\"}.", code: "missing_required_parameter")
        }
        let outcome = VoteRecord.Outcome(rawValue: try ImagesRequest.choice(v, "outcome", VoteRecord.Outcome.allCases.map(\.rawValue)))!
        switch battle.status {
        case .generating: throw APIError(.conflict, "The battle's pictures are not ready yet.", code: "battle_not_ready")
        case .failed: throw APIError(.conflict, "The battle failed; there is nothing to vote on.", code: "battle_failed")
        case .voted: throw APIError(.conflict, "This battle already has its vote; each battle takes one.", code: "already_voted")
        case .expired, .ready:
            if battle.status == .expired || Date().timeIntervalSince1970 > battle.expiresAt {
                throw APIError(.gone, "The battle expired; start a new one.", code: "battle_expired")
            }
        }
        let record = VoteRecord(battleID: battle.id, voter: voter(request, context).hashed, outcome: outcome,
                                anonymous: battle.revealedAt == nil, createdAt: Date().timeIntervalSince1970)
        guard try await state.arena.addVote(record) else {
            throw APIError(.conflict, "This battle already has its vote; each battle takes one.", code: "already_voted")
        }
        return try jsonResponse(VoteResult(battle_id: battle.id, outcome: outcome.rawValue, anonymous: record.anonymous,
                                           left_model: battle.leftModel, right_model: battle.rightModel))
    }

    // MARK: Leaderboard

    struct Board: Encodable {
        var object = "arena.leaderboard"
        /// "human" (votes cast in the arena) or "automatic" (the scene checker's battles).
        var board = "human"
        var judge: String?
        var category: String?
        var categories: [String]
        var votes: Int
        var last_updated: Double?
        var minimum_votes: Int
        var dropped: [String: Int]
        var position_bias: Double
        var left_win_share: Double
        var entries: [LeaderboardEntry]
        var win_rates: [String: [String: Double]]
    }

    func leaderboard(_ request: Request) async throws -> Response {
        let q = request.uri.queryParameters
        let category = q.get("category").flatMap { $0.isEmpty ? nil : String($0.prefix(64)) }
        let rounds = min(max(q.get("bootstrap").flatMap(Int.init) ?? 0, 0), 1000)
        switch q.get("board").map { String($0) } ?? "human" {
        case "human": break
        case "automatic": return try automaticBoard(category: category, rounds: rounds)
        case let other:
            throw APIError(.badRequest, "Unknown board '\(other.prefix(40))'; use human or automatic.", param: "board", code: "invalid_value")
        }
        let all = try await state.arena.votedBattles().map { $1.battle($0) }
        let (kept, dropped) = VoteHygiene(dailyCapPerVoter: 200, battlesPerPrompt: 50).apply(all)
        let scoped = category.map { c in kept.filter { $0.category == c } } ?? kept
        var options = Leaderboard.Options()
        options.bootstrapRounds = rounds
        options.minimumVotes = 10
        let board = Leaderboard(battles: scoped, options: options)
        var droppedCounts = Dictionary(uniqueKeysWithValues: dropped.map { ($0.key.rawValue, $0.value) })
        droppedCounts["revealed before the vote"] = scoped.filter { !$0.anony }.count
        return try jsonResponse(Board(
            category: category, categories: Array(Set(kept.compactMap(\.category))).sorted(), votes: board.votes,
            last_updated: board.lastUpdated, minimum_votes: options.minimumVotes, dropped: droppedCounts,
            position_bias: board.positionBias.isFinite ? board.positionBias : 0, left_win_share: board.leftWinShare.isFinite ? board.leftWinShare : 0.5,
            entries: board.entries, win_rates: board.winRates))
    }

    /// The automatic board: battles judged by the scene checker (`lumen arena auto`), ranked with
    /// the same code as human votes but never mixed with them.
    func automaticBoard(category: String?, rounds: Int) throws -> Response {
        guard let path = state.configuration.automaticBattlesPath else {
            throw APIError(.notFound, "This server has no automatic board; run `lumen arena auto` and start `lumen serve --auto-battles FILE`.",
                           param: "board", code: "no_automatic_board")
        }
        let battles: [Battle]
        do { battles = try BattleLog.load(path: path) } catch {
            throw APIError(.serviceUnavailable, "The automatic battle log cannot be read: \(error).", code: "automatic_board_unreadable")
        }
        let scoped = category.map { c in battles.filter { $0.category == c } } ?? battles
        var options = Leaderboard.Options()
        options.bootstrapRounds = rounds
        options.minimumVotes = 10
        let board = Leaderboard(battles: scoped, options: options)
        return try jsonResponse(Board(
            board: "automatic", judge: Array(Set(battles.compactMap(\.judge))).sorted().joined(separator: ", "),
            category: category, categories: Array(Set(battles.compactMap(\.category))).sorted(), votes: board.votes,
            last_updated: board.lastUpdated, minimum_votes: options.minimumVotes, dropped: [:],
            position_bias: board.positionBias.isFinite ? board.positionBias : 0, left_win_share: board.leftWinShare.isFinite ? board.leftWinShare : 0.5,
            entries: board.entries, win_rates: board.winRates))
    }
}

import ArgumentParser
import Foundation
import LumenArena
import LumenEval
import LumenModels
import LumenPipelines
import LumenScenes
import LumenService

struct Arena: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Arena tools: rank battle logs offline, run automatic battles.",
                                                    subcommands: [Rank.self, Auto.self])

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
                printBoard(board, bootstrap: bootstrap)
            }
        }
    }

    struct Auto: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Automatic battles: models answer the same held-out prompts, the scene checker judges.",
            discussion: """
                Each model generates one picture per prompt (same seeds for all); the scene checker \
                judges each pass or fail; every pair of models on every prompt is one battle (pass \
                beats fail; both pass: tie; neither: tie (bothbad)). Writes a clean-battle log with \
                judge "lumen-scene-checker" and prints its own Bradley–Terry board. Never mix this log \
                with human votes: `lumen serve --auto-battles FILE` shows it as a separate board.
                """)

        @Option(name: [.customShort("m"), .long], help: "A model (diffusers folder or checkpoint); give two or more.") var model: [String] = []
        @Option(name: .long, help: "The scene checker folder (default: models/lumen-checker).") var checker: String?
        @Option(name: .long, help: "Built-in prompts per task.") var perTask: Int = 10
        @Option(name: .long, help: "A JSON Lines prompts file instead of the built-in prompts.") var prompts: String?
        @Option(name: .long, help: "Scene seed of the built-in prompts.") var sceneSeed: UInt64 = 3
        @Option(name: .long, help: "Generation seed of the first prompt.") var seed: UInt64 = 0
        @Option(name: [.customShort("o"), .long], help: "Where to write the battle log.") var out: String = "auto-battles.json"
        @Option(name: .long, help: "Bootstrap rounds for a second 95% interval (0: off).") var bootstrap: Int = 0
        @Flag(name: [.short, .long]) var quiet = false

        func validate() throws {
            if model.count < 2 { throw ValidationError("give at least two --model") }
            if Set(model.map { ModelCatalog.modelID(for: $0) }).count != model.count {
                throw ValidationError("two --model share a name (\(model.map { ModelCatalog.modelID(for: $0) }.joined(separator: ", "))); battles need distinct names")
            }
            if perTask < 1 || perTask > 10_000 { throw ValidationError("--per-task must be between 1 and 10000") }
            if bootstrap < 0 || bootstrap > 100_000 { throw ValidationError("--bootstrap must be between 0 and 100000") }
        }

        func run() throws {
            try reportingErrors {
                guard let checkerPath = checker ?? shippedResource("models/lumen-checker", marker: "config.json") else {
                    throw ValidationError("no --checker given and models/lumen-checker was not found")
                }
                let sceneChecker = try SceneChecker(folder: checkerPath)
                let cases: [EvalCase] = try prompts.map { try EvalPromptSet.load(path: $0).map { EvalCase(item: $0) } }
                    ?? EvalPromptSet.build(perTask: perTask, seed: sceneSeed, split: .heldout)
                var verdicts: [(model: String, passed: [Bool])] = []
                for path in model {
                    let pipeline = try PipelineLoader.load(path: path, tokenizer: defaultTokenizerPath())
                    let recommended = ModelDefaults(modelPath: path)
                    let evaluator = Evaluator(pipeline: pipeline, checker: sceneChecker, steps: recommended.steps ?? 20,
                                              guidance: recommended.guidance ?? 7.5, seed: seed)
                    let name = ModelCatalog.modelID(for: path)
                    let bar = ProgressBar(quiet: quiet)
                    let results = try evaluator.judge(cases) { done, total in
                        bar.update(label: name, step: done, total: total)
                        return true
                    }
                    bar.finish("\(name): \(results.filter(\.passed).count) of \(results.count) prompts passed")
                    verdicts.append((name, results.map(\.passed)))
                }
                let battles = AutomaticBattles.battles(items: cases.map(\.item), verdicts: verdicts, tstamp: Date().timeIntervalSince1970)
                try BattleLog.encode(battles).write(to: URL(fileURLWithPath: out))
                var options = Leaderboard.Options()
                options.bootstrapRounds = bootstrap
                options.seed = seed
                let board = Leaderboard(battles: battles, options: options)
                print("automatic board (judge: \(AutomaticBattles.checkerJudge); not human votes): \(battles.count) battles, \(board.entries.count) models")
                printBoard(board, bootstrap: bootstrap)
                printError("wrote \(out)")
            }
        }
    }
}

/// Prints a leaderboard as a table (shared by `arena rank` and `arena auto`).
func printBoard(_ board: Leaderboard, bootstrap: Int) {
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

import ArgumentParser
import Foundation
import LumenEval
import LumenModels
import LumenPipelines
import LumenScenes
import LumenService

extension EvalTask: ExpressibleByArgument {}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model GenEval-style on scene-studio prompts, judged by the scene checker.",
        discussion: """
            Built-in prompts come from the scene studio's held-out split (colour–shape and shape–biome \
            pairs the training code never saw), --per-task for each task. Each prompt's own scene is \
            rendered too: the checker's score on those renders is printed as the ceiling, and the \
            checker is trusted on a task only when that ceiling is at least 98%. --prompts reads a \
            JSON Lines file instead ({"task", "prompt", "expect"} per line; --write-prompts shows the format).
            """)

    @Option(name: [.customShort("m"), .long], help: "A diffusers folder or single-file checkpoint (default: the built-in model).") var model: String?
    @Option(name: .long, help: "The scene checker folder (default: models/lumen-checker).") var checker: String?
    @Option(name: .long, help: "A JSON Lines prompts file instead of the built-in prompts.") var prompts: String?
    @Option(name: .long, help: "Built-in prompts per task.") var perTask: Int = 25
    @Option(name: .long, parsing: .upToNextOption, help: "Tasks to run (default: all).") var tasks: [EvalTask] = []
    @Option(name: .long, help: "Scene seed of the built-in prompts.") var sceneSeed: UInt64 = 3
    @Option(name: .long, help: "Split of the built-in prompts: heldout or train.") var split: SceneSplit = .heldout
    @Option(name: .long, help: "Generation seed of the first prompt (then +1 per prompt).") var seed: UInt64 = 0
    @Option(name: .long, help: "Denoising steps (default: the model's recommendation).") var steps: Int?
    @Option(name: [.customShort("g"), .long], help: "Guidance scale (default: the model's recommendation).") var guidance: Float?
    @Option(name: [.customShort("o"), .long], help: "Where to write the JSON report.") var out: String = "eval-report.json"
    @Option(name: .long, help: "Write the prompt set as JSON Lines to this file and stop.") var writePrompts: String?
    @Flag(name: .long, help: "Only measure the checker on the prompts' scene renders (its ceiling); no model needed.") var checkerOnly = false
    @Flag(name: [.short, .long]) var quiet = false

    func validate() throws {
        if perTask < 1 || perTask > 10_000 { throw ValidationError("--per-task must be between 1 and 10000") }
        if let steps, steps < 1 || steps > 1000 { throw ValidationError("--steps must be between 1 and 1000") }
        if let guidance, !guidance.isFinite || guidance < 0 { throw ValidationError("--guidance must be a number ≥ 0") }
    }

    func run() throws {
        try reportingErrors {
            let chosen = tasks.isEmpty ? EvalTask.allCases : tasks
            let cases: [EvalCase]
            if let prompts {
                cases = try EvalPromptSet.load(path: prompts).filter { chosen.contains($0.task) }.map { EvalCase(item: $0) }
                if cases.isEmpty { throw EvalError.emptyPromptSet }
            } else {
                cases = EvalPromptSet.build(tasks: chosen, perTask: perTask, seed: sceneSeed, split: split)
            }
            if let writePrompts {
                try EvalPromptSet.jsonLines(cases.map(\.item)).write(toFile: writePrompts, atomically: true, encoding: .utf8)
                printError("wrote \(cases.count) prompts to \(writePrompts)")
                return
            }
            guard let checkerPath = checker ?? shippedResource("models/lumen-checker", marker: "config.json") else {
                throw ValidationError("no --checker given and models/lumen-checker was not found")
            }
            if checkerOnly {
                guard prompts == nil else { throw ValidationError("--checker-only needs the built-in prompts (they carry their scenes)") }
                let scores = CheckerCeiling.measure(cases, checker: try SceneChecker(folder: checkerPath))
                print("checker on the prompts' own renders (\(split.rawValue) split, scene seed \(sceneSeed)):")
                for t in scores {
                    print("\(t.task.padding(toLength: 15, withPad: " ", startingAt: 0)) \(String(format: "%5d  %5.1f%%", t.prompts, t.accuracy * 100))  \(t.checkerTrusted == true ? "trusted" : "below 98%")")
                }
                return
            }
            guard let modelPath = model ?? defaultModelPath() else { throw ValidationError("no --model given and no built-in model found") }
            let pipeline = try PipelineLoader.load(path: modelPath, tokenizer: defaultTokenizerPath())
            let sceneChecker = try SceneChecker(folder: checkerPath)
            let recommended = ModelDefaults(modelPath: modelPath)
            let evaluator = Evaluator(pipeline: pipeline, checker: sceneChecker, steps: steps ?? recommended.steps ?? 20,
                                      guidance: guidance ?? recommended.guidance ?? 7.5, seed: seed)
            let bar = ProgressBar(quiet: quiet)
            let promptsName = prompts ?? "built-in: \(perTask) per task, \(split.rawValue) split, scene seed \(sceneSeed)"
            let report = try evaluator.run(cases, modelName: modelPath, checkerName: checkerPath, promptsName: promptsName) { done, total in
                bar.update(label: "picture", step: done, total: total)
                return true
            }
            bar.finish("scored \(cases.count) pictures")
            print(report.table)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(report).write(to: URL(fileURLWithPath: out))
            printError("wrote \(out)")
        }
    }
}

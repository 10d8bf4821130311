import ArgumentParser
import Foundation
import LumenImageIO
import LumenPipelines
import LumenProvenance
import LumenSchedulers
import LumenService
import LumenTensor

extension SchedulerKind: ExpressibleByArgument {}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate pictures from a prompt.")

    @Argument(help: "The prompt (or use --prompt).") var positionalPrompt: String?
    @Option(name: [.short, .long], help: "The prompt.") var prompt: String?
    @Option(name: [.customShort("m"), .long], help: "A diffusers folder or a single-file .safetensors checkpoint (default: the built-in model).")
    var model: String?
    @Option(name: .long, help: "What to avoid.") var negativePrompt: String = ""
    @Option(name: [.customShort("W"), .long], help: "Width in pixels (multiple of 8).") var width: Int?
    @Option(name: [.customShort("H"), .long], help: "Height in pixels (multiple of 8).") var height: Int?
    @Option(name: .long, help: "Denoising steps (default: the model's recommendation, else 20).") var steps: Int?
    @Option(name: [.customShort("g"), .long, .customLong("cfg-scale")], help: "Classifier-free guidance scale (≤ 1 disables guidance; default: the model's recommendation, else 7.5).")
    var guidance: Float?
    @Option(name: .long, help: "Sampler: \(SchedulerKind.allCases.map(\.rawValue).joined(separator: "|")) (default: the model's own).")
    var scheduler: SchedulerKind?
    @Option(name: [.short, .long], help: "Random seed (default: random).") var seed: UInt64?
    @Option(name: [.short, .long, .customLong("batch-count")], help: "Number of pictures.") var n: Int = 1
    @Option(name: .long, help: "A TAESD (AutoencoderTiny) folder to decode with instead of the VAE.") var decoder: String?
    @Option(name: .long, help: "Tokenizer folder for single-file checkpoints.") var tokenizer: String?
    @Option(name: .long, help: "Weights variant to prefer (e.g. fp16).") var variant: String?
    @Option(name: .long, help: "Text-encoder layers to skip from the end.") var clipSkip: Int = 0
    @Option(name: [.short, .long], help: "Output file, .png, .jpg or .webp ('-' for PNG on stdout); numbered when n > 1.") var output: String = "output.png"
    @Option(name: .long, help: "JPEG/WebP quality (1–100).") var quality: Int = 90
    @Option(name: .long, help: "Style preset: \(StylePreset.all.map(\.id).joined(separator: "|")).") var style: String?
    @Option(name: .long, help: "Data folder whose keys/ sign the pictures' Content Credentials (default: $LUMEN_DATA or lumen-data).")
    var data: String?
    @Option(name: .long, help: "PEM private key (P-256) for Content Credentials, instead of the data folder's test CA.") var signingKey: String?
    @Option(name: .long, help: "PEM certificate chain (leaf first) for --signing-key.") var signingChain: String?
    @Option(name: .long, help: "An RFC 3161 time-stamp authority URL for the Content Credentials (also $LUMEN_TSA_URL).") var tsaURL: String?
    @Option(name: .long, help: "Your region (ISO 3166 code, e.g. DE), checked against --region-policy.") var region: String?
    @Option(name: .long, help: "A JSON region policy naming where each model is offered or withheld.") var regionPolicy: String?
    @Flag(name: .long, help: "Draw a visible \"AI-generated\" badge in the corner.") var badge = false
    @Flag(name: [.short, .long], help: "No progress output.") var quiet = false
    @Flag(name: .long, help: "Verbose logging.") var verbose = false

    func validate() throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil { throw ValidationError("a prompt is required") }
        if n < 1 || n > 16 { throw ValidationError("--n must be between 1 and 16") }
        if output == "-" && n > 1 { throw ValidationError("--output - writes one picture; use a file name with --n > 1") }
        if let w = width, w <= 0 || w % 8 != 0 { throw ValidationError("--width \(w) must be a positive multiple of 8") }
        if let h = height, h <= 0 || h % 8 != 0 { throw ValidationError("--height \(h) must be a positive multiple of 8") }
        if let s = steps, s < 1 || s > 1000 { throw ValidationError("--steps must be between 1 and 1000") }
        if quality < 1 || quality > 100 { throw ValidationError("--quality must be between 1 and 100") }
        if let style, StylePreset.named(style) == nil {
            throw ValidationError("unknown --style '\(style)'; use one of \(StylePreset.all.map(\.id).joined(separator: ", "))")
        }
    }

    func run() throws {
        bootstrapLogging(verbose: verbose)
        try reportingErrors {
            guard let modelPath = model ?? defaultModelPath() else {
                throw ValidationError("no --model given and the built-in model (models/lumen-tiny) was not found; set LUMEN_MODEL or run from the repository")
            }
            let started = Date()
            if let regionPolicy {
                let policy = try RegionPolicy(path: regionPolicy)
                if let why = policy.withholding(model: ModelCatalog.modelID(for: modelPath), region: region) {
                    throw RegionPolicyError.withheld(why)
                }
            }
            let pipeline = try PipelineLoader.load(path: modelPath, decoder: decoder, variant: variant, tokenizer: tokenizer ?? defaultTokenizerPath())
            let recommended = ModelDefaults(modelPath: modelPath)
            let typed = prompt ?? positionalPrompt ?? ""
            let settings = GenerationSettings(
                model: pipeline.name, prompt: typed, revisedPrompt: style.flatMap(StylePreset.named)?.apply(to: typed),
                negativePrompt: negativePrompt, style: style,
                width: width ?? pipeline.defaultSize, height: height ?? pipeline.defaultSize,
                steps: steps ?? recommended.steps ?? 20, guidance: guidance ?? recommended.guidance ?? 7.5,
                seed: seed ?? UInt64.random(in: 0..<(1 << 32)), count: n, scheduler: scheduler?.rawValue, clipSkip: clipSkip)
            let request = try settings.request()
            _ = try pipeline.validate(request)
            if scheduler == nil, let other = pipeline.unsupportedSchedulerClass {
                printError("warning: the model's scheduler \(other) is not implemented; using euler (choose with --scheduler)")
            }
            let dropped = pipeline.tokenizer.truncatedCount(request.prompt)
            if dropped > 0 { printError("warning: the prompt is too long; its last \(dropped) tokens were ignored") }

            let keys = try SigningKeys.resolve(dataDirectory: data ?? defaultDataDirectory(), keyPath: signingKey, chainPath: signingChain,
                                               timeStampURL: tsaURL)
            if let created = keys.createdTestCA {
                printError("created a local test CA for Content Credentials in \(created.folder) (verify with --trust \(created.rootCertificate))")
            }
            let signing = PictureWriter.Signing(identity: keys.identity, model: pipeline.name)
            let bar = ProgressBar(quiet: quiet)
            let images = try pipeline.generate(request) { p in
                if p.stage == .denoising { bar.update(label: "step", step: p.step, total: p.totalSteps) }
                return true
            }
            let sampler = request.scheduler ?? pipeline.defaultScheduler
            let parameters = settings.parametersText(samplerName: sampler.a1111Name, modelName: pipeline.name)
            let format = output == "-" ? ImageFormat.png : ImageFormat(path: output)
            for (i, generated) in images.enumerated() {
                let image = badge ? VisibleMark.apply(to: generated) : generated
                let encoded = try PictureWriter.encode(image, format: format, parameters: parameters, quality: quality, signing: signing)
                if output == "-" {
                    FileHandle.standardOutput.write(encoded.data)
                } else {
                    let path = Self.numberedPath(output, index: i, count: images.count)
                    do {
                        try encoded.data.write(to: URL(fileURLWithPath: path), options: .atomic)
                    } catch {
                        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
                    }
                    if !quiet { printError("wrote \(path)") }
                }
            }
            bar.finish("done in \(String(format: "%.2f", Date().timeIntervalSince(started)))s (seed \(settings.seed))")
        }
    }

    /// `out.png` → `out-1.png`, `out-2.png`, … when several pictures are written.
    static func numberedPath(_ path: String, index: Int, count: Int) -> String {
        guard count > 1 else { return path }
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.isEmpty ? "png" : url.pathExtension
        let stem = url.deletingPathExtension().path
        return "\(stem)-\(index + 1).\(ext)"
    }
}

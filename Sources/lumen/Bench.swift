import ArgumentParser
import Foundation
import LumenPipelines
import LumenSchedulers
import LumenTensor

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time each stage of generation (model loading excluded).")

    @Option(name: [.customShort("m"), .long], help: "A diffusers folder or single-file checkpoint (default: the built-in model).") var model: String?
    @Option(name: [.customShort("W"), .long]) var width: Int?
    @Option(name: [.customShort("H"), .long]) var height: Int?
    @Option(name: .long) var steps: Int = 1
    @Option(name: [.customShort("g"), .long], help: "Guidance scale (> 1 runs the UNet on a doubled batch).") var guidance: Float = 0
    @Option(name: .long, help: "Timed runs (the median is reported).") var runs: Int = 3
    @Option(name: .long, help: "A TAESD folder to decode with.") var decoder: String?
    @Option(name: .long) var variant: String?
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @Flag(name: .long, help: "Also generate the same picture with every product in fp32 and report the PSNR of the timed precision against it.")
    var fidelity = false

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            guard let modelPath = model ?? defaultModelPath() else { throw ValidationError("no --model given and no built-in model found") }
            let pipeline = try PipelineLoader.load(path: modelPath, decoder: decoder, variant: variant)
            var request = GenerationRequest(prompt: "a photo of a red cube on a sandy beach at golden hour")
            request.width = width
            request.height = height
            request.steps = steps
            request.guidanceScale = guidance
            let (lh, lw) = try pipeline.validate(request)
            let guided = guidance > 1 && pipeline.unet.config.timeCondProjDim == nil
            let batch = guided ? 2 : 1
            var random = TorchRandomSource(seed: 0)
            let latents = random.randn([1, pipeline.unet.config.inChannels, lh, lw])
            let context = try pipeline.encode(prompt: request.prompt, count: batch, clipSkip: 0)
            var text: [Double] = [], unet: [Double] = [], vae: [Double] = [], total: [Double] = []
            func time(_ body: () throws -> Void) rethrows -> Double {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            // One untimed warm-up of everything, then alternate the stages per run.
            _ = try pipeline.generate(request)
            OpProfiler.reset()
            for _ in 0..<runs {
                text.append(try time { _ = try pipeline.encode(prompt: request.prompt, count: 1, clipSkip: 0) })
                let input = guided ? Tensor.concatBatch([latents, latents]) : latents
                unet.append(try time { _ = try pipeline.unet(input, timestep: 999, context: context) })
                vae.append(time { _ = pipeline.decodeLatents(latents) })
                total.append(try time { _ = try pipeline.generate(request) })
            }
            // The same seed with every product in fp32 (`LUMEN_BF16=0`'s path) against the timed precision.
            let psnr: Double? = try fidelity ? {
                let reference = try BF16Matmul.$forced.withValue(false) { try pipeline.generate(request) }
                return try pipeline.generate(request)[0].psnr(against: reference[0])
            }() : nil
            if OpProfiler.enabled {
                FileHandle.standardError.write(Data(("kernel time over the timed runs (LUMEN_PROFILE=1):\n" + OpProfiler.report(limit: Int(ProcessInfo.processInfo.environment["LUMEN_PROFILE_ROWS"] ?? "") ?? 60) + "\n").utf8))
            }
            func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
            var result: [String: Any] = [
                "text_encoder_s": median(text), "unet_step_s": median(unet), "vae_decode_s": median(vae),
                "total_s": median(total), "peak_rss_bytes": peakResidentBytes(),
                "width": lw * pipeline.vaeScaleFactor, "height": lh * pipeline.vaeScaleFactor, "steps": steps,
                "guidance": Double(guidance), "runs": runs, "threads": ComputeThreads.count, "bf16_products": BF16Matmul.enabled, "precision": BF16Matmul.choice,
            ]
            // Every run too, so a report can show the spread behind each median.
            result["runs_s"] = ["text_encoder": text, "unet_step": unet, "vae_decode": vae, "total": total]
            if let psnr { result["psnr_vs_fp32_db"] = psnr.isFinite ? psnr : 999 }
            if json {
                let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("model        \(pipeline.name)  \(lw * pipeline.vaeScaleFactor)×\(lh * pipeline.vaeScaleFactor), \(steps) step(s), guidance \(guidance), \(runs) run(s), \(ComputeThreads.count) threads, \(BF16Matmul.choice)")
                func spread(_ v: [Double]) -> String { v.count < 2 ? "" : String(format: "  (%.4f–%.4f)", v.min()!, v.max()!) }
                print(String(format: "text encoder %.4f s", median(text)) + spread(text))
                print(String(format: "unet step    %.4f s", median(unet)) + spread(unet))
                print(String(format: "vae decode   %.4f s", median(vae)) + spread(vae))
                print(String(format: "total        %.4f s", median(total)) + spread(total))
                print("peak rss     \(peakResidentBytes() / (1 << 20)) MiB")
                if let psnr { print(String(format: "psnr vs fp32 %.2f dB (same seed, every product in fp32)", psnr)) }
            }
        }
    }
}

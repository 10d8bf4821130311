import Foundation
import LumenModels
import LumenSchedulers
import LumenTensor
import LumenTokenizers
import LumenWeights

/// A latent decoder: the full `AutoencoderKL`, the tiny TAESD `AutoencoderTiny`, or none for
/// pixel-space models (whose "latents" are the picture in [-1, 1], e.g. Lumen's own model).
public enum LatentDecoder: Sendable {
    case kl(AutoencoderKL)
    case tiny(AutoencoderTiny)
    case pixelSpace

    public var scalingFactor: Float {
        switch self {
        case let .kl(v): v.config.scalingFactor
        case let .tiny(v): v.config.scalingFactor
        case .pixelSpace: 1
        }
    }

    /// Latents (already divided by the scaling factor) → image in [-1, 1].
    public func decode(_ z: Tensor) -> Tensor {
        switch self {
        case let .kl(v): v.decode(z)
        case let .tiny(v): v.decode(z)
        case .pixelSpace: z
        }
    }
}

/// Text-to-image with Stable Diffusion 1.x / 2.x / Turbo-family components; a port of diffusers'
/// `pipelines/stable_diffusion/pipeline_stable_diffusion.py` (`StableDiffusionPipeline.__call__`).
///
/// With the same prompt, seed, steps, guidance and scheduler it reproduces diffusers' picture:
/// initial noise comes from a torch-compatible generator and ancestral samplers continue the same
/// stream, every component matches the reference to fp32 rounding.
public struct StableDiffusionPipeline: Sendable {
    public var tokenizer: CLIPTokenizer
    public var textEncoder: CLIPTextModel
    public var unet: UNet2DConditionModel
    public var decoder: LatentDecoder
    /// The VAE's downsampling factor (2^(blocks − 1), 8 for SD).
    public var vaeScaleFactor: Int
    public var schedulerConfig: SchedulerConfig
    /// The sampler the model's own scheduler config names (used when a request names none).
    public var defaultScheduler: SchedulerKind
    /// Set when the model's scheduler class is not implemented and `defaultScheduler` is a stand-in.
    public var unsupportedSchedulerClass: String?
    /// A short name for the model (folder or file name), written into image metadata.
    public var name: String

    public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: UNet2DConditionModel, decoder: LatentDecoder,
                vaeScaleFactor: Int, schedulerConfig: SchedulerConfig, name: String) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.unet = unet
        self.decoder = decoder
        self.vaeScaleFactor = vaeScaleFactor
        self.schedulerConfig = schedulerConfig
        self.name = name
        let karras = (schedulerConfig.values["use_karras_sigmas"] as? Bool) ?? false
        let named = schedulerConfig.className.flatMap { SchedulerKind(diffusersClass: $0, karras: karras) }
        defaultScheduler = named ?? .euler
        unsupportedSchedulerClass = named == nil ? (schedulerConfig.className ?? "(none)") : nil
    }

    /// The default picture size (`unet.config.sample_size × vae_scale_factor`).
    public var defaultSize: Int { unet.config.sampleSize * vaeScaleFactor }

    /// Text embeddings `[batch, tokens, dim]` for one prompt repeated `count` times.
    public func encode(prompt: String, count: Int, clipSkip: Int) throws -> Tensor {
        let ids = tokenizer.encode(prompt)
        let embedding = try textEncoder([ids], skipLayers: clipSkip)
        return Tensor.concatBatch(Array(repeating: embedding, count: count))
    }

    /// Checks a request and returns the latent size (height, width).
    public func validate(_ r: GenerationRequest) throws -> (Int, Int) {
        let width = r.width ?? defaultSize, height = r.height ?? defaultSize
        for (field, v) in [("width", width), ("height", height)] {
            let multiple = Swift.max(8, vaeScaleFactor)
            guard v > 0, v % multiple == 0 else {
                throw PipelineError.invalidRequest(field: field, reason: "\(v) must be a positive multiple of \(multiple)")
            }
            guard v <= 4096 else { throw PipelineError.invalidRequest(field: field, reason: "\(v) exceeds the maximum of 4096 pixels") }
        }
        guard r.steps >= 1 && r.steps <= 1000 else { throw PipelineError.invalidRequest(field: "steps", reason: "\(r.steps) must be between 1 and 1000") }
        guard r.imageCount >= 1 && r.imageCount <= 16 else {
            throw PipelineError.invalidRequest(field: "n", reason: "\(r.imageCount) must be between 1 and 16")
        }
        guard r.guidanceScale.isFinite, r.guidanceScale >= 0, r.guidanceScale <= 100 else {
            throw PipelineError.invalidRequest(field: "guidance", reason: "\(r.guidanceScale) must be between 0 and 100")
        }
        guard r.clipSkip >= 0 && r.clipSkip < textEncoder.config.numHiddenLayers else {
            throw PipelineError.invalidRequest(field: "clip_skip", reason: "must be between 0 and \(textEncoder.config.numHiddenLayers - 1)")
        }
        let lh = height / vaeScaleFactor, lw = width / vaeScaleFactor
        if let latents = r.initialLatents {
            let expected = [r.imageCount, unet.config.inChannels, lh, lw]
            guard latents.shape == expected else {
                throw PipelineError.invalidRequest(field: "latents", reason: "shape \(latents.shape) does not match \(expected)")
            }
        }
        return (lh, lw)
    }

    /// diffusers' `get_guidance_scale_embedding` for LCM-distilled UNets (`time_cond_proj_dim`).
    static func guidanceEmbedding(_ w: Float, dim: Int, batch: Int) -> Tensor {
        let half = dim / 2
        let scale = Foundation.log(Float(10000)) / Float(half - 1)
        var row = [Float](repeating: 0, count: dim)
        for i in 0..<half {
            let arg = (w * 1000) * Foundation.exp(Float(i) * -scale)
            row[i] = Foundation.sin(arg)
            row[half + i] = Foundation.cos(arg)
        }
        return Tensor(shape: [batch, dim], data: Array(Array(repeating: row, count: batch).joined()))
    }

    /// Runs the denoising loop and returns the final latents (before decoding).
    public func denoise(_ r: GenerationRequest, progress: (GenerationProgress) -> Bool = { _ in true }) throws -> Tensor {
        let (lh, lw) = try validate(r)
        let n = r.imageCount
        let usesGuidanceEmbedding = unet.config.timeCondProjDim != nil
        let guided = r.guidanceScale > 1 && !usesGuidanceEmbedding

        guard progress(GenerationProgress(stage: .encodingText, step: 0, totalSteps: r.steps, latents: nil)) else { throw PipelineError.cancelled }
        var context = try encode(prompt: r.prompt, count: n, clipSkip: r.clipSkip)
        if guided {
            let negative = try encode(prompt: r.negativePrompt, count: n, clipSkip: r.clipSkip)
            context = Tensor.concatBatch([negative, context])
        }
        let timestepCond = unet.config.timeCondProjDim.map {
            Self.guidanceEmbedding(r.guidanceScale - 1, dim: $0, batch: n)
        }

        var scheduler = try (r.scheduler ?? defaultScheduler).make(config: schedulerConfig, steps: r.steps)
        var random = TorchRandomSource(seed: r.seed)
        var latents = r.initialLatents ?? random.randn([n, unet.config.inChannels, lh, lw])
        latents = latents * scheduler.initNoiseSigma

        let timesteps = scheduler.timesteps
        for (i, t) in timesteps.enumerated() {
            try Task.checkCancellation()
            let input = guided ? Tensor.concatBatch([latents, latents]) : latents
            let scaled = scheduler.scaleModelInput(input, stepIndex: i)
            var noise = try OpProfiler.measure("pipeline: unet call") {
                try unet(scaled, timestep: t, context: context, timestepCond: timestepCond)
            }
            if guided {
                let halves = noise.chunkBatch(2)
                let g = r.guidanceScale
                var combined = halves[0]
                combined.data.withUnsafeMutableBufferPointer { u in
                    halves[1].data.withUnsafeBufferPointer { c in
                        for j in 0..<u.count { u[j] = u[j] + g * (c[j] - u[j]) }
                    }
                }
                noise = combined
            }
            latents = OpProfiler.measure("pipeline: scheduler step") {
                scheduler.step(modelOutput: noise, stepIndex: i, sample: latents, random: &random)
            }
            guard progress(GenerationProgress(stage: .denoising, step: i + 1, totalSteps: timesteps.count, latents: latents)) else {
                throw PipelineError.cancelled
            }
        }
        return latents
    }

    /// Decodes latents into images in [-1, 1] (`vae.decode(latents / scaling_factor)`).
    public func decodeLatents(_ latents: Tensor) -> Tensor {
        decoder.decode(latents / decoder.scalingFactor)
    }

    /// diffusers' `VaeImageProcessor.postprocess` to PIL: `(x/2 + 0.5).clamp(0, 1)`, then `round(x · 255)`.
    public static func toImages(_ decoded: Tensor) -> [RGBImage] {
        let (n, c, h, w) = (decoded.shape[0], decoded.shape[1], decoded.shape[2], decoded.shape[3])
        return (0..<n).map { b in
            var pixels = [UInt8](repeating: 0, count: h * w * 3)
            for y in 0..<h {
                for x in 0..<w {
                    for ch in 0..<3 {
                        let v = decoded.data[((b * c + Swift.min(ch, c - 1)) * h + y) * w + x]
                        let unit = Swift.min(Swift.max(v / 2 + 0.5, 0), 1)
                        pixels[(y * w + x) * 3 + ch] = UInt8((unit * 255).rounded(.toNearestOrEven))
                    }
                }
            }
            return RGBImage(width: w, height: h, pixels: pixels)
        }
    }

    /// Prompt → pictures.
    /// One generation runs at a time per process (`ComputeThreads.exclusively`); others queue.
    public func generate(_ r: GenerationRequest, progress: (GenerationProgress) -> Bool = { _ in true }) throws -> [RGBImage] {
        try ComputeThreads.exclusively {
            let latents = try OpProfiler.measure("pipeline: denoise") { try denoise(r, progress: progress) }
            guard progress(GenerationProgress(stage: .decoding, step: r.steps, totalSteps: r.steps, latents: nil)) else { throw PipelineError.cancelled }
            let decoded = OpProfiler.measure("pipeline: decode") { decodeLatents(latents) }
            return OpProfiler.measure("pipeline: to images") { Self.toImages(decoded) }
        }
    }
}

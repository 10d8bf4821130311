import Foundation
import LumenModels
import LumenSchedulers
import LumenTensor
import LumenTokenizers
import LumenWeights

/// Loads a `StableDiffusionPipeline` from a diffusers folder or a single-file LDM checkpoint.
public enum PipelineLoader {
    /// Loads `path` (a diffusers folder, or a `.safetensors` single-file checkpoint), optionally
    /// replacing the VAE decoder with a TAESD (`AutoencoderTiny`) folder.
    ///
    /// - Parameter variant: a weights variant to prefer ("fp16"), as diffusers' `variant=`.
    public static func load(path: String, decoder decoderPath: String? = nil, variant: String? = nil,
                            tokenizer tokenizerPath: String? = nil) throws -> StableDiffusionPipeline {
        _ = AllocatorPolicy.applied
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ModelLayoutError.notFound(path) }
        var pipeline: StableDiffusionPipeline
        if isDir.boolValue {
            // With a TAESD decoder the folder's own VAE is never run: it is not loaded at all
            // (159 MB of SD-Turbo's peak memory as fp16).
            let tiny = try decoderPath.map { try loadTinyAutoencoder(folder: $0) }
            return try loadDiffusers(DiffusersLayout(root: path), variant: variant, tinyDecoder: tiny)
        } else {
            pipeline = try SingleFileCheckpoint.loadPipeline(path: path, tokenizer: tokenizerPath)
        }
        if let decoderPath {
            pipeline.decoder = .tiny(try loadTinyAutoencoder(folder: decoderPath))
        }
        return pipeline
    }

    static func loadDiffusers(_ layout: DiffusersLayout, variant: String?,
                              tinyDecoder: AutoencoderTiny? = nil) throws -> StableDiffusionPipeline {
        let tokenizer = try CLIPTokenizer(directory: layout.folder("tokenizer"))
        let textConfig = try CLIPTextConfig(JSONConfig(path: layout.configPath("text_encoder")))
        let textStore = WeightStore(component: "text_encoder", files: try layout.openWeights("text_encoder", variant: variant))
        let textEncoder = CLIPTextModel(textStore.root, config: textConfig)
        try textStore.finish()

        let unetConfig = try UNet2DConditionConfig(JSONConfig(path: layout.configPath("unet")))
        let unetStore = WeightStore(component: "unet", files: try layout.openWeights("unet", variant: variant))
        let unet = UNet2DConditionModel(unetStore.root, config: unetConfig)
        try unetStore.finish()

        let decoder: LatentDecoder
        let scaleFactor: Int
        guard let vaeClass = layout.components["vae"]?.last else {
            // No VAE in model_index.json: a pixel-space model.
            guard unetConfig.inChannels == 3, unetConfig.outChannels == 3 else {
                throw ModelLayoutError.notAModel(path: layout.root, reason: "no vae component, and the UNet does not work on 3-channel pixels")
            }
            let schedulerConfig = try SchedulerConfig(path: layout.configPath("scheduler"))
            return StableDiffusionPipeline(tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, decoder: .pixelSpace,
                                           vaeScaleFactor: 1, schedulerConfig: schedulerConfig,
                                           name: (layout.root as NSString).lastPathComponent)
        }
        let vaeJSON = try JSONConfig(path: layout.configPath("vae"))
        if let tinyDecoder {
            // The latent size still follows the folder's VAE (its config, not its weights).
            scaleFactor = vaeClass == "AutoencoderTiny"
                ? 1 << (try AutoencoderTinyConfig(vaeJSON).decoderBlockOutChannels.count - 1)
                : 1 << (try AutoencoderKLConfig(vaeJSON).blockOutChannels.count - 1)
            let schedulerConfig = try SchedulerConfig(path: layout.configPath("scheduler"))
            return StableDiffusionPipeline(tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, decoder: .tiny(tinyDecoder),
                                           vaeScaleFactor: scaleFactor, schedulerConfig: schedulerConfig,
                                           name: (layout.root as NSString).lastPathComponent)
        }
        let vaeStore = WeightStore(component: "vae", files: try layout.openWeights("vae", variant: variant))
        if vaeClass == "AutoencoderTiny" {
            let c = try AutoencoderTinyConfig(vaeJSON)
            decoder = .tiny(AutoencoderTiny(vaeStore.root, config: c))
            scaleFactor = 1 << (c.decoderBlockOutChannels.count - 1)
        } else {
            let c = try AutoencoderKLConfig(vaeJSON)
            decoder = .kl(AutoencoderKL(vaeStore.root, config: c))
            scaleFactor = 1 << (c.blockOutChannels.count - 1)
        }
        try vaeStore.finish()

        let schedulerConfig = try SchedulerConfig(path: layout.configPath("scheduler"))
        return StableDiffusionPipeline(tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, decoder: decoder,
                                       vaeScaleFactor: scaleFactor, schedulerConfig: schedulerConfig,
                                       name: (layout.root as NSString).lastPathComponent)
    }

    /// Loads a TAESD folder (`config.json` + safetensors of an `AutoencoderTiny`).
    public static func loadTinyAutoencoder(folder: String) throws -> AutoencoderTiny {
        let config = try AutoencoderTinyConfig(JSONConfig(path: folder + "/config.json"))
        let files = DiffusersLayout.weightFiles(in: folder, component: "decoder")
        guard !files.isEmpty else { throw ModelLayoutError.noWeights(component: "decoder", path: folder) }
        let opened = try files.first!.hasSuffix(".index.json") ? DiffusersLayout.openShards(index: files[0]) : files.map { try SafetensorsFile(path: $0) }
        let store = WeightStore(component: "decoder (AutoencoderTiny)", files: opened)
        let model = AutoencoderTiny(store.root, config: config)
        try store.finish()
        return model
    }
}

import Foundation
import LumenModels
import LumenSchedulers
import LumenTokenizers
import LumenWeights

/// The Stable Diffusion family a single-file checkpoint belongs to, told from its keys.
public enum CheckpointFamily: String, Sendable {
    case sd1 = "Stable Diffusion 1.x"
    case sd2 = "Stable Diffusion 2.x"
}

/// A single-file LDM checkpoint (`model.diffusion_model.*`, `first_stage_model.*`,
/// `cond_stage_model.*`) mapped onto diffusers modules, with configs inferred from tensor shapes
/// as diffusers' `create_unet_diffusers_config_from_ldm` / `create_vae_diffusers_config_from_ldm` do.
public struct SingleFileCheckpoint {
    public let file: SafetensorsFile
    public let family: CheckpointFamily
    public let unetEntries: [String: WeightEntry]
    public let vaeEntries: [String: WeightEntry]
    public let textEntries: [String: WeightEntry]
    public let unetConfig: [String: Any]
    public let vaeConfig: [String: Any]
    public let textConfig: [String: Any]
    /// Keys that belong to no known component (reported, never silently dropped).
    public let unknownKeys: [String]

    public init(path: String) throws {
        let file = try SafetensorsFile(path: path)
        self.file = file
        let keys = Array(file.tensors.keys)
        let name = (path as NSString).lastPathComponent
        func shape(_ k: String) -> [Int]? { file.tensors[k]?.shape }
        guard let convIn = shape(LDMKeyMapper.unetPrefix + "input_blocks.0.0.weight") else {
            throw ModelLayoutError.notAModel(path: name, reason: "no model.diffusion_model.input_blocks.0.0.weight: not an SD 1.x/2.x single-file checkpoint")
        }
        let isOpenClip = keys.contains { $0.hasPrefix(LDMKeyMapper.openClipPrefix) }
        let family: CheckpointFamily = isOpenClip ? .sd2 : .sd1
        self.family = family

        // UNet structure from the input blocks.
        let unetKeys = keys.filter { $0.hasPrefix(LDMKeyMapper.unetPrefix) }.map { String($0.dropFirst(LDMKeyMapper.unetPrefix.count)) }
        let inputIndices = Set(unetKeys.compactMap { k -> Int? in
            let p = k.split(separator: ".")
            return p.first == "input_blocks" && p.count > 1 ? Int(p[1]) : nil
        }).sorted()
        let downsampleIndices = inputIndices.filter { unetKeys.contains("input_blocks.\($0).0.op.weight") }
        let levels = downsampleIndices.count + 1
        let lpb = (downsampleIndices.first ?? (inputIndices.last ?? 1)) - 1
        guard lpb >= 1 else { throw ModelLayoutError.notAModel(path: name, reason: "cannot infer layers_per_block from input_blocks") }
        var blockOut: [Int] = []
        var downTypes: [String] = [], upTypes: [String] = []
        var contextDim = 768
        var linearProjection = false
        for level in 0..<levels {
            let first = 1 + level * (lpb + 1)
            guard let s = shape(LDMKeyMapper.unetPrefix + "input_blocks.\(first).0.out_layers.3.weight") else {
                throw ModelLayoutError.notAModel(path: name, reason: "missing resnet input_blocks.\(first).0")
            }
            blockOut.append(s[0])
            let hasAttention = unetKeys.contains("input_blocks.\(first).1.proj_in.weight")
            downTypes.append(hasAttention ? "CrossAttnDownBlock2D" : "DownBlock2D")
            upTypes.insert(hasAttention ? "CrossAttnUpBlock2D" : "UpBlock2D", at: 0)
            if hasAttention {
                if let k = shape(LDMKeyMapper.unetPrefix + "input_blocks.\(first).1.transformer_blocks.0.attn2.to_k.weight") { contextDim = k[1] }
                linearProjection = shape(LDMKeyMapper.unetPrefix + "input_blocks.\(first).1.proj_in.weight")?.count == 2
            }
        }
        let sd2 = contextDim == 1024
        var unet: [String: Any] = [
            "in_channels": convIn[1], "out_channels": shape(LDMKeyMapper.unetPrefix + "out.2.weight")?[0] ?? 4,
            "block_out_channels": blockOut, "layers_per_block": lpb, "down_block_types": downTypes, "up_block_types": upTypes,
            "cross_attention_dim": contextDim, "use_linear_projection": linearProjection,
            "norm_num_groups": 32, "sample_size": sd2 ? 96 : 64,
        ]
        if sd2 {
            unet["attention_head_dim"] = blockOut.map { max(1, $0 / 64) }  // SD2: 64-wide heads
            unet["upcast_attention"] = true
        } else {
            unet["attention_head_dim"] = 8
        }
        unetConfig = unet

        var unetMap: [String: WeightEntry] = [:]
        var unknown: [String] = []
        var vaeMap: [String: WeightEntry] = [:]
        var textMap: [String: WeightEntry] = [:]
        let vaeLevels = Set(keys.compactMap { k -> Int? in
            guard k.hasPrefix(LDMKeyMapper.vaePrefix + "encoder.down.") else { return nil }
            return Int(k.split(separator: ".")[3])
        }).count
        for key in keys {
            let info = file.tensors[key]!
            if key.hasPrefix(LDMKeyMapper.unetPrefix) {
                if let n = LDMKeyMapper.unetKey(String(key.dropFirst(LDMKeyMapper.unetPrefix.count)), layersPerBlock: lpb) {
                    unetMap[n] = WeightEntry(file: file, info: info)
                } else { unknown.append(key) }
            } else if key.hasPrefix(LDMKeyMapper.vaePrefix) {
                if let (n, reshape) = LDMKeyMapper.vaeKey(String(key.dropFirst(LDMKeyMapper.vaePrefix.count)), levels: vaeLevels) {
                    vaeMap[n] = WeightEntry(file: file, info: info, transform: reshape ? .reshape : .identity)
                } else { unknown.append(key) }
            } else if key.hasPrefix(LDMKeyMapper.clipPrefix) {
                var n = String(key.dropFirst(LDMKeyMapper.clipPrefix.count))
                if !n.hasPrefix("text_model.") { n = "text_model." + n }
                textMap[n] = WeightEntry(file: file, info: info)
            } else if key.hasPrefix(LDMKeyMapper.openClipPrefix) {
                let rest = String(key.dropFirst(LDMKeyMapper.openClipPrefix.count))
                if let mapped = LDMKeyMapper.openClipKeys(rest) {
                    for (n, t) in mapped { textMap[n] = WeightEntry(file: file, info: info, transform: t) }
                } else if !["text_projection", "logit_scale", "attn_mask"].contains(rest) {
                    unknown.append(key)
                }
            } else if !["model_ema.", "alphas_cumprod", "betas", "posterior_", "sqrt_", "log_one_minus", "model_ema", "lvlb_weights"].contains(where: { key.hasPrefix($0) }) {
                unknown.append(key)
            }
        }

        // VAE config.
        var vaeOut: [Int] = []
        for level in 0..<vaeLevels {
            guard let s = shape(LDMKeyMapper.vaePrefix + "encoder.down.\(level).block.0.conv1.weight") else { break }
            vaeOut.append(s[0])
        }
        let vaeLayers = Set(keys.compactMap { k -> Int? in
            guard k.hasPrefix(LDMKeyMapper.vaePrefix + "encoder.down.0.block.") else { return nil }
            return Int(k.split(separator: ".")[5])
        }).count
        vaeConfig = [
            "block_out_channels": vaeOut, "layers_per_block": max(vaeLayers, 1),
            "latent_channels": shape(LDMKeyMapper.vaePrefix + "post_quant_conv.weight")?[0] ?? 4,
            "norm_num_groups": 32, "scaling_factor": 0.18215,
        ]

        // Text encoder config.
        var hidden = 768, vocab = 49408, positions = 77, inter = 3072, layerCount = 12
        if let t = textMap["text_model.embeddings.token_embedding.weight"]?.info.shape { vocab = t[0]; hidden = t[1] }
        if let p = textMap["text_model.embeddings.position_embedding.weight"]?.info.shape { positions = p[0] }
        if let f = textMap["text_model.encoder.layers.0.mlp.fc1.weight"]?.info.shape { inter = f[0] }
        layerCount = Set(textMap.keys.compactMap { k -> Int? in
            guard k.hasPrefix("text_model.encoder.layers.") else { return nil }
            return Int(k.split(separator: ".")[3])
        }).count
        if family == .sd2 {
            // SD2 conditions on the penultimate layer: diffusers' converted text encoder has one layer fewer.
            let lastLayer = "text_model.encoder.layers.\(layerCount - 1)."
            for k in textMap.keys where k.hasPrefix(lastLayer) { textMap[k] = nil }
            layerCount -= 1
        }
        textConfig = [
            "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layerCount,
            "num_attention_heads": max(1, hidden / 64), "max_position_embeddings": positions,
            "hidden_act": family == .sd2 ? "gelu" : "quick_gelu",
        ]
        unetEntries = unetMap
        vaeEntries = vaeMap
        textEntries = textMap
        unknownKeys = unknown.sorted()
    }

    /// The scheduler diffusers pairs with these checkpoints (SD's scaled-linear betas; SD2-768 predicts v).
    public var schedulerConfig: SchedulerConfig {
        SchedulerConfig(values: [
            "_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1,
            "timestep_spacing": "leading", "prediction_type": family == .sd2 ? "v_prediction" : "epsilon",
        ])
    }

    /// Loads a pipeline; the tokenizer comes from `tokenizer` or a `tokenizer/` folder beside the file.
    public static func loadPipeline(path: String, tokenizer tokenizerPath: String?) throws -> StableDiffusionPipeline {
        let checkpoint = try SingleFileCheckpoint(path: path)
        let name = (path as NSString).lastPathComponent
        if !checkpoint.unknownKeys.isEmpty {
            throw WeightLoadError(component: name, missing: [], unexpected: checkpoint.unknownKeys, misShaped: [], unreadable: [])
        }
        let beside = (path as NSString).deletingLastPathComponent + "/tokenizer"
        let dir = FileManager.default.fileExists(atPath: beside) ? beside : (tokenizerPath ?? beside)
        guard ["vocab.json", "tokenizer.json"].contains(where: { FileManager.default.fileExists(atPath: dir + "/" + $0) }) else {
            throw ModelLayoutError.notAModel(path: name, reason: "single-file checkpoints carry no tokenizer: pass --tokenizer DIR (a folder with CLIP's vocab.json and merges.txt)")
        }
        var tokenizer = try CLIPTokenizer(directory: dir)
        if checkpoint.family == .sd2 && tokenizer.padTokenID == tokenizer.eosTokenID, tokenizer.vocabulary["!"] != nil {
            // SD2's tokenizer pads with "!" (OpenCLIP's zero padding); the shared CLIP vocabulary pads with <|endoftext|>.
            tokenizer = try CLIPTokenizer(vocabulary: tokenizer.vocabulary, merges: tokenizer.mergeList, padToken: "!", modelMaxLength: tokenizer.modelMaxLength)
        }
        let textStore = WeightStore(component: "text encoder (cond_stage_model)", entries: checkpoint.textEntries)
        textStore.ignorable.insert("text_model.embeddings.position_ids")
        let textEncoder = CLIPTextModel(textStore.root, config: try CLIPTextConfig(JSONConfig(values: checkpoint.textConfig)))
        try textStore.finish()
        let unetStore = WeightStore(component: "UNet (model.diffusion_model)", entries: checkpoint.unetEntries)
        let unetConfig = try UNet2DConditionConfig(JSONConfig(values: checkpoint.unetConfig))
        let unet = UNet2DConditionModel(unetStore.root, config: unetConfig)
        try unetStore.finish()
        let vaeStore = WeightStore(component: "VAE (first_stage_model)", entries: checkpoint.vaeEntries)
        let vaeConfig = try AutoencoderKLConfig(JSONConfig(values: checkpoint.vaeConfig))
        let vae = AutoencoderKL(vaeStore.root, config: vaeConfig)
        try vaeStore.finish()
        return StableDiffusionPipeline(tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, decoder: .kl(vae),
                                       vaeScaleFactor: 1 << (vaeConfig.blockOutChannels.count - 1),
                                       schedulerConfig: checkpoint.schedulerConfig, name: name)
    }
}

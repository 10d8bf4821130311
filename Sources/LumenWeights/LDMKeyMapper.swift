import Foundation

/// Maps tensor names of original LDM / A1111 single-file Stable Diffusion checkpoints onto
/// diffusers module paths, following diffusers `loaders/single_file_utils.py`
/// (`convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`, `convert_open_clip_checkpoint`).
/// Renaming is done per key with string rules, so the result is a plain name table that the
/// usual `WeightStore` serves; fused OpenCLIP `in_proj` tensors become three `.chunk` entries and
/// the VAE's 1×1 attention convolutions become `.reshape` entries.
public enum LDMKeyMapper {
    public static let unetPrefix = "model.diffusion_model."
    public static let vaePrefix = "first_stage_model."
    public static let clipPrefix = "cond_stage_model.transformer."
    public static let openClipPrefix = "cond_stage_model.model."

    /// Splits `a.b.c` into components.
    static func parts(_ key: Substring) -> [String] { key.split(separator: ".").map(String.init) }

    static let resnetNames: [String: String] = [
        "in_layers.0": "norm1", "in_layers.2": "conv1", "out_layers.0": "norm2", "out_layers.3": "conv2",
        "emb_layers.1": "time_emb_proj", "skip_connection": "conv_shortcut",
    ]

    static func renameResnet(_ rest: String) -> String {
        for (old, new) in resnetNames where rest.hasPrefix(old + ".") {
            return new + rest.dropFirst(old.count)
        }
        return rest
    }

    /// UNet key (after the `model.diffusion_model.` prefix) → diffusers name, or nil if unknown.
    public static func unetKey(_ key: String, layersPerBlock lpb: Int) -> String? {
        let p = key.split(separator: ".", maxSplits: 3).map(String.init)
        func tail(_ n: Int) -> String { p.dropFirst(n).joined(separator: ".") }
        switch p.first {
        case "time_embed":
            guard p.count >= 3 else { return nil }
            let name = p[1] == "0" ? "linear_1" : p[1] == "2" ? "linear_2" : nil
            return name.map { "time_embedding.\($0).\(tail(2))" }
        case "out":
            guard p.count >= 3 else { return nil }
            let name = p[1] == "0" ? "conv_norm_out" : p[1] == "2" ? "conv_out" : nil
            return name.map { "\($0).\(tail(2))" }
        case "input_blocks":
            guard p.count >= 4, let i = Int(p[1]), let j = Int(p[2]) else { return nil }
            if i == 0 { return "conv_in.\(tail(3))" }
            let block = (i - 1) / (lpb + 1), layer = (i - 1) % (lpb + 1)
            let rest = tail(3)
            if j == 0 && rest.hasPrefix("op.") { return "down_blocks.\(block).downsamplers.0.conv.\(rest.dropFirst(3))" }
            if j == 0 { return "down_blocks.\(block).resnets.\(layer).\(renameResnet(rest))" }
            if j == 1 { return "down_blocks.\(block).attentions.\(layer).\(rest)" }
            return nil
        case "middle_block":
            guard p.count >= 4, let j = Int(p[1]) else { return nil }
            let rest = p.dropFirst(2).joined(separator: ".")
            switch j {
            case 0: return "mid_block.resnets.0.\(renameResnet(rest))"
            case 1: return "mid_block.attentions.0.\(rest)"
            case 2: return "mid_block.resnets.1.\(renameResnet(rest))"
            default: return nil
            }
        case "output_blocks":
            guard p.count >= 4, let i = Int(p[1]), let j = Int(p[2]) else { return nil }
            let block = i / (lpb + 1), layer = i % (lpb + 1)
            let rest = tail(3)
            if j == 0 { return "up_blocks.\(block).resnets.\(layer).\(renameResnet(rest))" }
            if rest.hasPrefix("conv.") { return "up_blocks.\(block).upsamplers.0.conv.\(rest.dropFirst(5))" }
            if j == 1 { return "up_blocks.\(block).attentions.\(layer).\(rest)" }
            return nil
        default:
            return nil
        }
    }

    /// VAE key (after `first_stage_model.`) → diffusers name and whether it is a 1×1 conv used as a linear layer.
    public static func vaeKey(_ key: String, levels: Int) -> (String, reshape: Bool)? {
        var p = parts(Substring(key))
        guard p.count >= 2 else { return nil }
        let side = p[0]
        guard side == "encoder" || side == "decoder" else {
            return ["quant_conv", "post_quant_conv"].contains(p[0]) ? (key, false) : nil
        }
        p.removeFirst()
        let rest: [String]
        switch p[0] {
        case "conv_in", "conv_out": rest = p
        case "norm_out": rest = ["conv_norm_out"] + p.dropFirst()
        case "down", "up":
            guard p.count >= 4, let i = Int(p[1]) else { return nil }
            let index = p[0] == "up" ? levels - 1 - i : i
            let kind = p[0] == "up" ? "up_blocks" : "down_blocks"
            if p[2] == "block" {
                var inner = Array(p.dropFirst(4))
                if inner.first == "nin_shortcut" { inner[0] = "conv_shortcut" }
                rest = [kind, String(index), "resnets", p[3]] + inner
            } else if p[2] == "downsample" || p[2] == "upsample" {
                rest = [kind, String(index), p[2] == "downsample" ? "downsamplers" : "upsamplers", "0"] + p.dropFirst(3)
            } else { return nil }
        case "mid":
            guard p.count >= 3 else { return nil }
            switch p[1] {
            case "block_1": rest = ["mid_block", "resnets", "0"] + p.dropFirst(2).map { $0 == "nin_shortcut" ? "conv_shortcut" : $0 }
            case "block_2": rest = ["mid_block", "resnets", "1"] + p.dropFirst(2).map { $0 == "nin_shortcut" ? "conv_shortcut" : $0 }
            case "attn_1":
                let names = ["norm": ["group_norm"], "q": ["to_q"], "k": ["to_k"], "v": ["to_v"], "proj_out": ["to_out", "0"]]
                guard let mapped = names[p[2]] else { return nil }
                let name = (["mid_block", "attentions", "0"] + mapped + p.dropFirst(3)).joined(separator: ".")
                return ("\(side).\(name)", p[2] != "norm")
            default: return nil
            }
        default: return nil
        }
        return ("\(side).\(rest.joined(separator: "."))", false)
    }

    /// OpenCLIP (SD2) text-tower key (after `cond_stage_model.model.`) → diffusers names and transforms.
    public static func openClipKeys(_ key: String) -> [(String, WeightTransform)]? {
        let p = parts(Substring(key))
        switch p.first {
        case "token_embedding": return [("text_model.embeddings.token_embedding.weight", .identity)]
        case "positional_embedding": return [("text_model.embeddings.position_embedding.weight", .identity)]
        case "ln_final": return [("text_model.final_layer_norm.\(p.dropFirst().joined(separator: "."))", .identity)]
        case "transformer":
            guard p.count >= 5, p[1] == "resblocks", let i = Int(p[2]) else { return nil }
            let base = "text_model.encoder.layers.\(i)"
            let leaf = p.last!
            switch (p[3], p[4]) {
            case ("ln_1", _): return [("\(base).layer_norm1.\(leaf)", .identity)]
            case ("ln_2", _): return [("\(base).layer_norm2.\(leaf)", .identity)]
            case ("attn", "in_proj_weight"), ("attn", "in_proj_bias"):
                let suffix = p[4] == "in_proj_weight" ? "weight" : "bias"
                return ["q_proj", "k_proj", "v_proj"].enumerated().map { ("\(base).self_attn.\($0.element).\(suffix)", .chunk(index: $0.offset, parts: 3)) }
            case ("attn", "out_proj"): return [("\(base).self_attn.out_proj.\(leaf)", .identity)]
            case ("mlp", "c_fc"): return [("\(base).mlp.fc1.\(leaf)", .identity)]
            case ("mlp", "c_proj"): return [("\(base).mlp.fc2.\(leaf)", .identity)]
            default: return nil
            }
        default: return nil
        }
    }
}

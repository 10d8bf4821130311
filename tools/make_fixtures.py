#!/usr/bin/env python3
"""Builds tiny random Stable Diffusion components with diffusers/transformers (seeded) and writes
them with reference inputs and outputs under Tests/LumenEngineTests/Fixtures. Run from the
repository root inside a virtualenv with
`pip install torch diffusers transformers safetensors numpy`:

    python tools/make_fixtures.py

The Swift tests compare Lumen against these outputs; CI only reads the committed files.
"""
import inspect
import json
import os
import shutil

import numpy as np
import torch
from diffusers import (AutoencoderKL, AutoencoderTiny, DDIMScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler, PNDMScheduler,
                       StableDiffusionPipeline, UNet2DConditionModel)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

import clip_bpe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "LumenEngineTests", "Fixtures")
torch.set_num_threads(2)

CORPUS = """a photo of a red cube on a sandy beach at golden hour with long soft shadows
a small blue metal sphere behind a large green rubber cylinder in a snowy forest
watercolor painting of mountains reflected in a calm lake under a starry night sky
concept art of a glass torus glowing with warm light, pixel art, pencil sketch of dunes
the quick brown fox jumps over the lazy dog; it's 2 o'clock and we're done 123 !!"""


def make_tokenizer(path, pad_token, merges_count=300):
    """A CLIP-format BPE vocabulary learned on a small corpus (merges by pair frequency)."""
    clip_bpe.write(path, clip_bpe.learn_merges([CORPUS], merges_count))
    tok = CLIPTokenizer(os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt"), pad_token=pad_token,
                        model_max_length=77)
    tok.save_pretrained(path)
    return CLIPTokenizer.from_pretrained(path)


def save(name, tensors, meta=None):
    os.makedirs(FIX, exist_ok=True)
    out = {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}
    save_file(out, os.path.join(FIX, name + ".safetensors"), metadata={"meta": json.dumps(meta or {})})


def tiny_components(kind, seed):
    sd2 = kind == "sd2"
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32), layers_per_block=2, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D") if not sd2 else ("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D") if not sd2 else ("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=24, norm_num_groups=4, attention_head_dim=2 if not sd2 else (2, 4),
        use_linear_projection=sd2, upcast_attention=sd2)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=4, layers_per_block=1)
    torch.manual_seed(seed + 2)
    tok_dir = os.path.join(FIX, "tmp-tokenizer-" + kind)
    tokenizer = make_tokenizer(tok_dir, "!" if sd2 else "<|endoftext|>")
    text = CLIPTextModel(CLIPTextConfig(hidden_size=24, intermediate_size=37, num_attention_heads=4,
                                        num_hidden_layers=3, vocab_size=len(tokenizer), max_position_embeddings=77,
                                        hidden_act="gelu" if sd2 else "quick_gelu", bos_token_id=tokenizer.bos_token_id,
                                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    for m in (unet, vae, text):
        m.eval()
        # Random weights with larger norms than the default init, so that every layer matters.
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.02)
    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                  prediction_type="v_prediction" if sd2 else "epsilon")
    if sd2:
        scheduler = DDIMScheduler(clip_sample=False, set_alpha_to_one=False, **common)
    else:
        scheduler = EulerDiscreteScheduler(timestep_spacing="leading", **common)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return pipe, tok_dir


def scheduler_from(name, config):
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    if name == "euler-a":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "dpm++2m":
        return DPMSolverMultistepScheduler.from_config(config)
    if name == "dpm++2m-karras":
        return DPMSolverMultistepScheduler.from_config(config, use_karras_sigmas=True)
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "lcm":
        return LCMScheduler.from_config(config)
    if name == "pndm":
        return PNDMScheduler.from_config(config, skip_prk_steps=True)
    raise ValueError(name)


@torch.no_grad()
def main():
    cases = []
    # --- torch RNG ---------------------------------------------------------------------------
    rng = {}
    for seed, sizes in [(0, [1, 5, 15, 16, 17, 100]), (42, [256, 3, 33]), (2**32 + 7, [64])]:
        g = torch.Generator("cpu").manual_seed(seed)
        for i, n in enumerate(sizes):
            rng[f"seed{seed}_{i}_{n}"] = torch.randn((n,), generator=g)
    save("rng", rng)

    for kind, seed in [("sd1", 0), ("sd2", 10)]:
        pipe, tok_dir = tiny_components(kind, seed)
        folder = os.path.join(FIX, "tiny-" + kind)
        shutil.rmtree(folder, ignore_errors=True)
        pipe.save_pretrained(folder)
        if kind == "sd2":
            # transformers 5 saves only tokenizer.json; keep the classic vocab.json + merges.txt form
            # in this fixture so both formats are tested.
            os.remove(os.path.join(folder, "tokenizer", "tokenizer.json"))
            for name in ["vocab.json", "merges.txt"]:
                shutil.copy(os.path.join(tok_dir, name), os.path.join(folder, "tokenizer", name))
        shutil.rmtree(tok_dir)
        # Reference outputs come from the pipeline as loaded from disk: that is what Lumen reads
        # (an in-memory scheduler config also remembers which fields were defaults).
        pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
        tok = pipe.tokenizer
        base_config = dict(pipe.scheduler.config)
        # --- tokenizer -----------------------------------------------------------------------
        texts = ["a photo of a red cube", "A  Photo\tof   THE lake, at 12:30!!", "it's we're they'll", "",
                 "café naïve — ünïcödé 東京", "watercolor " * 40, "<|endoftext|> hi", "mountains'reflections...?"]
        ids = [tok(t, padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids for t in texts]
        with open(os.path.join(FIX, f"tokenizer-{kind}.json"), "w") as f:
            json.dump({"texts": texts, "ids": ids}, f, ensure_ascii=False)
        # --- text encoder --------------------------------------------------------------------
        input_ids = torch.tensor(ids[:3])
        out = pipe.text_encoder(input_ids, output_hidden_states=True)
        penultimate = pipe.text_encoder.final_layer_norm(out.hidden_states[-2])
        save(f"text-{kind}", {"ids": input_ids.float(), "last": out.last_hidden_state, "penultimate": penultimate})
        # --- unet ------------------------------------------------------------------------------
        torch.manual_seed(100)
        for name, (h, w) in [("even", (8, 8)), ("odd", (7, 9))]:
            sample = torch.randn(2, 4, h, w)
            ctx = torch.randn(2, 77, 24)
            t = torch.tensor(917.0)
            pred = pipe.unet(sample, t, encoder_hidden_states=ctx).sample
            save(f"unet-{kind}-{name}", {"sample": sample, "context": ctx, "timestep": t.reshape(1), "output": pred})
        # --- vae -------------------------------------------------------------------------------
        z = torch.randn(1, 4, 6, 5)
        img = torch.rand(1, 3, 12, 10) * 2 - 1
        dist = pipe.vae.encode(img).latent_dist
        save(f"vae-{kind}", {"latents": z, "decoded": pipe.vae.decode(z).sample, "image": img,
                             "mean": dist.mean, "logvar": dist.logvar})
        # --- end to end --------------------------------------------------------------------------
        for sched in ["euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm", "pndm"]:
            for guidance in [1.0, 5.0]:
                pipe.scheduler = scheduler_from(sched, base_config)
                seed_ = 1234
                h, w = (24, 16) if kind == "sd1" else (16, 24)
                prompt, neg = "a red cube on a sandy beach", "blurry"
                res = pipe(prompt, negative_prompt=neg, num_inference_steps=2, guidance_scale=guidance, height=h,
                           width=w, generator=torch.Generator("cpu").manual_seed(seed_), output_type="np",
                           num_images_per_prompt=2 if sched == "euler-a" else 1)
                name = f"e2e-{kind}-{sched}-g{int(guidance)}"
                save(name, {"image": torch.from_numpy(res.images).permute(0, 3, 1, 2)},
                     {"prompt": prompt, "negative_prompt": neg, "steps": 2, "guidance": guidance, "seed": seed_,
                      "height": h, "width": w, "scheduler": sched, "n": res.images.shape[0]})
        # injected latents
        pipe.scheduler = scheduler_from("dpm++2m", base_config)
        lat = torch.randn(1, 4, 8, 4)
        res = pipe("mountains at night", num_inference_steps=2, guidance_scale=3.0, height=16, width=8,
                   latents=lat, output_type="np")
        save(f"e2e-{kind}-latents", {"latents": lat, "image": torch.from_numpy(res.images).permute(0, 3, 1, 2)},
             {"prompt": "mountains at night", "steps": 2, "guidance": 3.0, "height": 16, "width": 8, "scheduler": "dpm++2m"})

    # --- TAESD ---------------------------------------------------------------------------------
    torch.manual_seed(7)
    tiny = AutoencoderTiny(encoder_block_out_channels=(8, 8, 8), decoder_block_out_channels=(8, 8, 8),
                           num_encoder_blocks=(1, 2, 1), num_decoder_blocks=(1, 2, 1), latent_channels=4)
    tiny.eval()
    folder = os.path.join(FIX, "tiny-taesd")
    shutil.rmtree(folder, ignore_errors=True)
    tiny.save_pretrained(folder)
    z = torch.randn(1, 4, 5, 6)
    img = torch.rand(1, 3, 16, 12) * 2 - 1
    save("taesd", {"latents": z, "decoded": tiny.decode(z).sample, "image": img, "encoded": tiny.encode(img).latents})

    # --- analytic scheduler loops (diffusers tests/schedulers) ---------------------------------
    sched_cases = []
    base = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
    variants = []
    for sched in ["euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm"]:
        extra = dict(clip_sample=False) if sched in ["ddim", "lcm"] else {}
        for spacing in ["leading", "trailing", "linspace"]:
            for pred in ["epsilon", "v_prediction"]:
                variants.append((sched, dict(base, timestep_spacing=spacing, prediction_type=pred, steps_offset=1, **extra), 6 if sched != "lcm" else 4))
    variants.append(("euler", dict(beta_schedule="linear", timestep_spacing="linspace"), 10))
    variants.append(("ddim", dict(beta_schedule="linear", clip_sample=True, timestep_spacing="trailing"), 3))
    variants.append(("dpm++2m", dict(base, timestep_spacing="linspace"), 20))
    # Appended last so earlier case numbers keep their meaning.
    for spacing in ["leading", "trailing", "linspace"]:
        for pred in ["epsilon", "v_prediction"]:
            variants.append(("pndm", dict(base, timestep_spacing=spacing, prediction_type=pred, steps_offset=1, skip_prk_steps=True), 6))
    variants.append(("pndm", dict(beta_schedule="linear", skip_prk_steps=True), 2))
    tensors = {}
    for i, (sched, cfg, steps) in enumerate(variants):
        s = scheduler_from(sched, dict(cfg))
        s.set_timesteps(steps)
        g = torch.Generator("cpu").manual_seed(i)
        sample = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4) / 96.0 - 0.5
        sample = sample * s.init_noise_sigma
        for t in s.timesteps:
            x = s.scale_model_input(sample, t)
            out = x * float(t) / (float(t) + 1)
            kwargs = {"generator": g} if "generator" in inspect.signature(s.step).parameters else {}
            sample = s.step(out, t, sample, **kwargs).prev_sample
        tensors[f"case{i}"] = sample
        sched_cases.append({"scheduler": sched, "config": cfg, "steps": steps, "seed": i,
                            "timesteps": [float(t) for t in s.timesteps],
                            "sigmas": [float(x) for x in s.sigmas] if hasattr(s, "sigmas") and sched not in ["ddim", "lcm"] else None})
    save("schedulers", tensors)
    with open(os.path.join(FIX, "schedulers.json"), "w") as f:
        json.dump(sched_cases, f)

    print("fixtures written to", FIX)


def make_clip_goldens():
    """Golden ids of the real CLIP vocabulary (models/clip-tokenizer) from transformers, SD1 and SD2 padding."""
    d = os.path.join(ROOT, "models", "clip-tokenizer")
    texts = ["a photo of an astronaut riding a horse on mars", "A  Photo\tof   THE lake,\nat 12:30!! ...",
             "it's we're they'll I'd you've", "", "café naïve — ünïcödé 東京タワー 🚀🔥",
             "Ｆｕｌｌｗｉｄｔｈ and e\u0301 combining", "<|endoftext|> hi <|startoftext|>", "mountains'reflections...?!?",
             "1234567 3.14 $100 #hashtag @user", "photorealistic, 8k, masterpiece, (best quality:1.2), [sharp]",
             " ".join(["landscape"] * 80), "hello!world!!!"]
    out = {}
    for key, pad in [("sd1", "<|endoftext|>"), ("sd2", "!")]:
        tok = CLIPTokenizer.from_pretrained(d, pad_token=pad)
        out[key] = [tok(t, padding="max_length", max_length=77, truncation=True).input_ids for t in texts]
    with open(os.path.join(FIX, "tokenizer-clip.json"), "w") as f:
        json.dump(dict(texts=texts, **out), f, ensure_ascii=False)



# --- single-file LDM checkpoints ------------------------------------------------------------------
RESNET_TO_LDM = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
                 "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}


def unet_to_ldm(sd, lpb, up_has_attention):
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        def res(rest):
            return RESNET_TO_LDM.get(rest[0], rest[0]) + ("." + ".".join(rest[1:]) if len(rest) > 1 else "")
        if p[0] == "time_embedding":
            n = {"linear_1": "time_embed.0", "linear_2": "time_embed.2"}[p[1]] + "." + p[2]
        elif p[0] in ("conv_in",):
            n = "input_blocks.0.0." + p[1]
        elif p[0] == "conv_norm_out":
            n = "out.0." + p[1]
        elif p[0] == "conv_out":
            n = "out.2." + p[1]
        elif p[0] == "down_blocks":
            b = int(p[1])
            if p[2] == "resnets":
                n = f"input_blocks.{1 + b * (lpb + 1) + int(p[3])}.0." + res(p[4:])
            elif p[2] == "attentions":
                n = f"input_blocks.{1 + b * (lpb + 1) + int(p[3])}.1." + ".".join(p[4:])
            else:
                n = f"input_blocks.{1 + b * (lpb + 1) + lpb}.0.op." + ".".join(p[5:])
        elif p[0] == "mid_block":
            if p[1] == "resnets":
                n = f"middle_block.{0 if p[2] == '0' else 2}." + res(p[3:])
            else:
                n = "middle_block.1." + ".".join(p[3:])
        elif p[0] == "up_blocks":
            b = int(p[1])
            if p[2] == "resnets":
                n = f"output_blocks.{b * (lpb + 1) + int(p[3])}.0." + res(p[4:])
            elif p[2] == "attentions":
                n = f"output_blocks.{b * (lpb + 1) + int(p[3])}.1." + ".".join(p[4:])
            else:
                n = f"output_blocks.{b * (lpb + 1) + lpb}.{2 if up_has_attention[b] else 1}.conv." + ".".join(p[5:])
        else:
            raise KeyError(k)
        out["model.diffusion_model." + n] = v
    return out


def vae_to_ldm(sd, levels):
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        side = p[0]
        if side in ("quant_conv", "post_quant_conv"):
            out["first_stage_model." + k] = v
            continue
        q = p[1:]
        if q[0] == "conv_norm_out":
            n = ["norm_out"] + q[1:]
        elif q[0] in ("down_blocks", "up_blocks"):
            i = int(q[1])
            kind = "down" if q[0] == "down_blocks" else "up"
            idx = i if kind == "down" else levels - 1 - i
            if q[2] == "resnets":
                rest = ["nin_shortcut" if x == "conv_shortcut" else x for x in q[4:]]
                n = [kind, str(idx), "block", q[3]] + rest
            else:
                n = [kind, str(idx), "downsample" if kind == "down" else "upsample"] + q[4:]
        elif q[0] == "mid_block":
            if q[1] == "resnets":
                n = ["mid", "block_1" if q[2] == "0" else "block_2"] + ["nin_shortcut" if x == "conv_shortcut" else x for x in q[3:]]
            else:
                name = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}[q[3]]
                rest = q[5:] if q[3] == "to_out" else q[4:]
                n = ["mid", "attn_1", name] + rest
                if name != "norm" and rest[-1] == "weight":
                    v = v.reshape(*v.shape, 1, 1)
        else:
            n = q
        out["first_stage_model." + side + "." + ".".join(n)] = v
    return out


def clip_to_open_clip(sd, extra_layer):
    out = {}
    layers = {}
    for k, v in sd.items():
        k = k[len("text_model."):] if k.startswith("text_model.") else k
        p = k.split(".")
        if k == "embeddings.token_embedding.weight":
            out["token_embedding.weight"] = v
        elif k == "embeddings.position_embedding.weight":
            out["positional_embedding"] = v
        elif p[0] == "final_layer_norm":
            out["ln_final." + p[1]] = v
        elif p[0] == "encoder":
            i, rest = int(p[2]), p[3:]
            base = f"transformer.resblocks.{i}."
            if rest[0] in ("layer_norm1", "layer_norm2"):
                out[base + ("ln_1." if rest[0] == "layer_norm1" else "ln_2.") + rest[1]] = v
            elif rest[0] == "mlp":
                out[base + "mlp." + ("c_fc." if rest[1] == "fc1" else "c_proj.") + rest[2]] = v
            elif rest[1] == "out_proj":
                out[base + "attn.out_proj." + rest[2]] = v
            else:
                layers.setdefault((i, rest[2]), {})[rest[1]] = v
    for (i, leaf), qkv in layers.items():
        out[f"transformer.resblocks.{i}.attn.in_proj_{leaf}"] = torch.cat([qkv["q_proj"], qkv["k_proj"], qkv["v_proj"]])
    # SD2 checkpoints carry one more block than diffusers uses (penultimate-layer conditioning).
    n = 1 + max(i for i, _ in layers)
    for k in list(out):
        if k.startswith("transformer.resblocks.0."):
            out[k.replace("resblocks.0.", f"resblocks.{n}.")] = torch.randn_like(out[k])
    out["text_projection"] = torch.randn(sd["text_model.embeddings.token_embedding.weight" if "text_model.embeddings.token_embedding.weight" in sd else "embeddings.token_embedding.weight"].shape[1], 8)
    return {"cond_stage_model.model." + k: v for k, v in out.items()}


@torch.no_grad()
def make_single_file(kind, seed):
    """A tiny checkpoint whose shapes follow SD's own rules (GroupNorm 32, SD1: 8 heads,
    SD2: 64-wide heads, CLIP: 64-wide heads), saved in LDM naming as fp16, with reference outputs."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint
    sd2 = kind == "sd2"
    torch.manual_seed(seed)
    ctx_dim = 1024 if sd2 else 768
    unet = UNet2DConditionModel(block_out_channels=(64, 64) if sd2 else (32, 64), layers_per_block=1, sample_size=8,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=ctx_dim,
                                attention_head_dim=[1, 1] if sd2 else 8, use_linear_projection=sd2)
    vae = AutoencoderKL(block_out_channels=[32, 32], latent_channels=4, layers_per_block=1,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=ctx_dim // 16, intermediate_size=48, num_attention_heads=ctx_dim // 16 // 64 or 1,
                                        num_hidden_layers=2, vocab_size=705, hidden_act="gelu" if sd2 else "quick_gelu"))
    for m in (unet, vae, text):
        m.eval()
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    # Round through fp16 so the fp32 references match the stored weights exactly.
    for m in (unet, vae, text):
        for p in m.parameters():
            p.copy_(p.half().float())
    ldm = {}
    ldm.update(unet_to_ldm(unet.state_dict(), 1, [False, True]))
    ldm.update(vae_to_ldm(vae.state_dict(), 2))
    tsd = text.state_dict()
    if sd2:
        ldm.update(clip_to_open_clip(tsd, True))
    else:
        ldm.update({"cond_stage_model.transformer." + (k if k.startswith("text_model.") else "text_model." + k): v for k, v in tsd.items()})
    # The LDM file must convert back exactly with diffusers' own converters.
    back = convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    assert set(back) == set(unet.state_dict()), set(back) ^ set(unet.state_dict())
    assert all(torch.equal(back[k], v) for k, v in unet.state_dict().items())
    vback = convert_ldm_vae_checkpoint(ldm, dict(vae.config))
    assert set(vback) == set(vae.state_dict()), set(vback) ^ set(vae.state_dict())
    assert all(torch.equal(vback[k].reshape(v.shape), v) for k, v in vae.state_dict().items())
    save_file({k: v.half().contiguous() for k, v in ldm.items()}, os.path.join(FIX, f"single-{kind}.safetensors"))
    torch.manual_seed(seed + 1)
    sample = torch.randn(1, 4, 6, 6)
    ctx = torch.randn(1, 77, ctx_dim)
    ids = torch.tensor([[703] + list(range(5, 20)) + [704] * 61])
    z = torch.randn(1, 4, 4, 4)
    save(f"single-{kind}-reference", {"sample": sample, "context": ctx, "timestep": torch.tensor([421.0]),
                                       "unet": unet(sample, 421.0, encoder_hidden_states=ctx).sample,
                                       "ids": ids.float(), "text": text(ids).last_hidden_state,
                                       "latents": z, "decoded": vae.decode(z).sample})


if __name__ == "__main__":
    if not os.environ.get("LUMEN_SINGLE_FILE_ONLY"):
        main()
        make_clip_goldens()
    make_single_file("sd1", 300)
    make_single_file("sd2", 400)

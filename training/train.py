#!/usr/bin/env python3
"""Trains Lumen's own model on scene-studio renders and exports a standard diffusers folder.

Model: a pixel-space `UNet2DConditionModel` (v-prediction, cosine schedule) conditioned on a small
`CLIPTextModel` trained jointly from scratch, with a CLIP-format BPE tokenizer learned on the
caption vocabulary. Condition dropout (10 %) enables classifier-free guidance. Runs on CUDA when
present (bf16 autocast), else on all CPU cores; resumes from `--out/checkpoint.pt`; fixed seeds.

    lumen scenes render --count 40000 --size 64 --supersample 2 --samples 1 --seed 1 --out data/train
    python training/pack.py data/train data/shards/train-000
    python training/train.py --shards data/shards --out models/lumen-tiny --minutes 7

Shards may keep arriving while it trains (`training/device_run.sh` renders them on the GPU
machine's CPUs): new ones join the sampling pool every 100 steps.

The export has no `vae` component of its own (pixel space; Lumen's engine treats that as identity
decoding); with `--init`, the init folder's `vae` (the upsampler) is carried over.
"""
import argparse
import json
import math
import os
import random
import re
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import clip_bpe  # noqa: E402
from shards import read_shard, ready_shards  # noqa: E402

MAX_TOKENS = 64
LEFT_RIGHT, RIGHT_LEFT = " to the left of ", " to the right of "
# The grammar's size words (`ObjectSize.adjectives` in Sources/LumenScenes/SceneModel.swift).
SIZE_WORDS = re.compile(r"\b(small|little|large|big) ")


def without_sizes(caption):
    """The caption with its size words dropped ("a large red cube" → "a red cube")."""
    return SIZE_WORDS.sub("", caption)


# The photo style's phrases (`Style.phrases` in Sources/LumenScenes/SceneModel.swift): as a prefix
# ("a photo of …") or, in the time-first caption, as a suffix ("…, photo").
PHOTO_PREFIX = re.compile(r"^(a photo of|a photograph of|a realistic photo of) ")
PHOTO_SUFFIX = re.compile(r", photo$")


def plain_variants(caption, style):
    """How users write what the grammar says at length: a photo's caption without its style phrase
    (so a prompt that names no style draws a photo) and a relation as "left of" / "right of"
    without "to the". Returns the new variants only."""
    out = []
    if style == "photo":
        bare = PHOTO_SUFFIX.sub("", PHOTO_PREFIX.sub("", caption))
        if bare != caption:
            out.append(bare)
    for c in [caption] + out:
        short = c.replace(LEFT_RIGHT, " left of ").replace(RIGHT_LEFT, " right of ")
        if short != c:
            out.append(short)
    return out


def phrasings(scene, sizeless, plain):
    """A scene's captions, then (`sizeless`) each also without its size words, then (`plain`) each
    of those also in `plain_variants`: the captions as users write prompts."""
    cs = list(scene["captions"])
    if sizeless:
        cs += [b for b in map(without_sizes, cs) if b not in cs]
    if plain:
        cs += [v for c in cs for v in plain_variants(c, scene["style"]) if v not in cs]
    return cs


def learn_tokenizer(captions, path, merges_count=1500):
    """CLIP-format byte-level BPE learned on the captions (most frequent pairs first)."""
    clip_bpe.write(path, clip_bpe.learn_merges(captions, merges_count),
                   {"model_max_length": MAX_TOKENS, "pad_token": "<|endoftext|>", "bos_token": "<|startoftext|>",
                    "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"})
    return CLIPTokenizer(os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt"), model_max_length=MAX_TOKENS)


def build_models(vocab_size, size, bos, eos):
    text = CLIPTextModel(CLIPTextConfig(vocab_size=vocab_size, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                                        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, hidden_act="gelu",
                                        bos_token_id=bos, eos_token_id=eos, pad_token_id=eos))
    # 64×64: a cheap full-resolution level (32 channels), cross-attention at 16×16 and 8×8 only,
    # so a step costs about 1.4× the 32×32 model's while the picture has 4× the pixels.
    levels = 4 if size >= 64 else 3
    channels = (32, 64, 128, 192) if levels == 4 else (64, 128, 192)
    down = ("DownBlock2D",) * (levels - 2) + ("CrossAttnDownBlock2D",) * 2
    up = ("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",) * (levels - 2)
    unet = UNet2DConditionModel(
        sample_size=size, in_channels=3, out_channels=3, block_out_channels=channels, layers_per_block=2,
        down_block_types=down, up_block_types=up, cross_attention_dim=256, attention_head_dim=(4,) * levels,
        norm_num_groups=32)
    return text, unet


class CaptionedImages:
    """Every loaded shard's pictures (uint8, on the device) and all their captions, tokenised."""

    def __init__(self, folder, size, tok, device, sizeless=False, plain=False):
        self.folder, self.size, self.tok, self.device, self.sizeless, self.plain = folder, size, tok, device, sizeless, plain
        self.loaded, self.images, self.tokens, self.caption_count = set(), None, None, None
        self.relation = None  # per picture: index of its left/right caption, or -1

    def refresh(self):
        for p in ready_shards(self.folder, "train-*"):
            if p in self.loaded:
                continue
            imgs, scenes = read_shard(p, self.size)
            caps = [phrasings(s, self.sizeless, self.plain) for s in scenes]
            width = max(len(c) for c in caps)
            flat = [c[i % len(c)] for c in caps for i in range(width)]
            ids = torch.tensor(self.tok(flat, padding="max_length", max_length=MAX_TOKENS, truncation=True).input_ids)
            rel = torch.tensor([next((i for i, c in enumerate(cs) if LEFT_RIGHT in c or RIGHT_LEFT in c), -1) for cs in caps],
                               device=self.device)
            self.relation = rel if self.relation is None else torch.cat([self.relation, rel])
            parts = (torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous().to(self.device),
                     ids.view(len(caps), width, MAX_TOKENS).to(self.device),
                     torch.tensor([len(c) for c in caps], device=self.device))
            if self.images is None:
                self.images, self.tokens, self.caption_count = parts
            else:
                if parts[1].shape[1] != self.tokens.shape[1]:  # pad caption slots to the same width
                    w = max(parts[1].shape[1], self.tokens.shape[1])
                    pad = lambda t: torch.cat([t, t[:, :1].expand(-1, w - t.shape[1], -1)], 1) if t.shape[1] < w else t
                    parts = (parts[0], pad(parts[1]), parts[2]); self.tokens = pad(self.tokens)
                self.images = torch.cat([self.images, parts[0]])
                self.tokens = torch.cat([self.tokens, parts[1]])
                self.caption_count = torch.cat([self.caption_count, parts[2]])
            self.loaded.add(p)
            print(f"loaded {p}: {len(self.images)} pictures", flush=True)


def scheduler():
    return DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                       prediction_type="v_prediction", timestep_spacing="trailing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True, help="folder of shards (training/shards.py)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=7)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="continue from an exported model folder (its tokenizer and weights; fresh optimiser)")
    ap.add_argument("--warmup", type=int, default=200)
    # Plain MSE by default. min-SNR-γ (Hang et al. 2023, 'Efficient Diffusion Training via Min-SNR
    # Weighting Strategy') weights a v-prediction step by min(SNR, γ)/(SNR+1), which tends to 0 at
    # the noisiest steps of the cosine schedule: there the model predicts the picture from the text
    # alone (sky, ground, light). A 64×64 run with γ=5 lost that — biome 8 %, time of day 4 % on
    # `lumen eval` (models/lumen-tiny/README.md) — so it is off unless asked for.
    ap.add_argument("--min-snr", type=float, default=0.0, help="min-SNR-γ loss weighting; 0 = plain MSE")
    # A scene with a clear left/right pair has one caption (of four) that states it; drawn uniformly,
    # a two-object scene teaches the relation a quarter of the time. A position fine-tune raises that.
    ap.add_argument("--relation-share", type=float, default=0.0,
                    help="probability of training on a picture's left/right caption when it has one (0 = uniform among captions)")
    # The jointly trained encoder of lumen-tiny all but dropped the relation word (relation_probe.py);
    # a fine-tune can give the encoder a larger step than the UNet to make it plastic again.
    ap.add_argument("--text-lr-scale", type=float, default=1.0, help="the text encoder's learning rate as a multiple of --lr")
    ap.add_argument("--sizeless-captions", action="store_true",
                    help="also train on every caption with its size words dropped (the grammar always states sizes; prompts often don't)")
    ap.add_argument("--plain-captions", action="store_true",
                    help="also train on a photo's captions without the style phrase, and on relations as 'left of' / 'right of'")
    # bf16 autocast on CPU pays where the CPU has bf16 dot products (AVX512-BF16, AMX): oneDNN runs
    # the convolutions and products in bf16 with fp32 accumulation, as on CUDA.
    ap.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on CPU too (CUDA always uses it)")
    ap.add_argument("--min-timestep", type=int, default=0,
                    help="train only timesteps ≥ this (a short fine-tune of the noisy, global part of the schedule)")
    args = ap.parse_args()
    torch.manual_seed(args.seed); random.seed(args.seed); np.random.seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(os.cpu_count())
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    size = args.size
    while not ready_shards(args.shards, "train-*"):
        time.sleep(1)
    first = read_shard(ready_shards(args.shards, "train-*")[0], size)[1]
    os.makedirs(args.out, exist_ok=True)
    # The tokenizer is learned on the first shard's captions: the grammar's vocabulary is small and
    # every word occurs in a few thousand scenes; byte-level BPE covers anything else.
    if args.init:
        shutil.copytree(os.path.join(args.init, "tokenizer"), os.path.join(args.out, "tokenizer"), dirs_exist_ok=True)
        tok = CLIPTokenizer(os.path.join(args.out, "tokenizer", "vocab.json"), os.path.join(args.out, "tokenizer", "merges.txt"),
                            model_max_length=MAX_TOKENS)
        text = CLIPTextModel.from_pretrained(os.path.join(args.init, "text_encoder")).float()
        unet = UNet2DConditionModel.from_pretrained(os.path.join(args.init, "unet")).float()
    else:
        tok = learn_tokenizer([c for s in first for c in s["captions"]], os.path.join(args.out, "tokenizer"))
        text, unet = build_models(len(tok), size, tok.bos_token_id, tok.eos_token_id)
    text.to(device); unet.to(device)
    if device == "cuda":
        # NHWC convolutions run on the tensor cores without layout transposes.
        unet.to(memory_format=torch.channels_last)
    ema = {k: v.detach().clone().float() for k, v in list(unet.state_dict().items()) + [("text." + k, v) for k, v in text.state_dict().items()]}
    # EMA over floating-point tensors as two flat lists, updated with one fused call per step
    # (a Python loop over ~500 tensors made the first run ~6 it/s on an H200).
    live = [p for _, p in list(unet.state_dict(keep_vars=True).items()) + list(text.state_dict(keep_vars=True).items())]
    names = list(unet.state_dict().keys()) + ["text." + k for k in text.state_dict().keys()]
    pairs = [(ema[n], p) for n, p in zip(names, live) if p.dtype.is_floating_point]
    ema_list, live_list = [a for a, _ in pairs], [b for _, b in pairs]
    groups = [{"params": list(unet.parameters()), "scale": 1.0}, {"params": list(text.parameters()), "scale": args.text_lr_scale}]
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99), fused=device == "cuda")
    sched = scheduler()
    alphas = sched.alphas_cumprod.to(device)
    snr = alphas / (1 - alphas)
    weight = (snr.clamp(max=args.min_snr) / (snr + 1)) if args.min_snr > 0 else torch.ones_like(snr)
    weight = weight / weight.mean()  # same average scale as plain MSE, so learning rates carry over
    data = CaptionedImages(args.shards, size, tok, device, sizeless=args.sizeless_captions, plain=args.plain_captions)
    data.refresh()
    empty = torch.tensor(tok([""], padding="max_length", max_length=MAX_TOKENS).input_ids).to(device)
    ckpt = os.path.join(args.out, "checkpoint.pt")
    step, losses, earlier_seconds = 0, [], 0.0
    if os.path.exists(ckpt):
        state = torch.load(ckpt, map_location=device)
        unet.load_state_dict(state["unet"]); text.load_state_dict(state["text"]); opt.load_state_dict(state["opt"])
        # Into the same tensors: `ema_list` holds references to them, so rebinding `ema` would leave
        # the resumed run updating tensors that the export never reads.
        with torch.no_grad():
            for k, v in state["ema"].items():
                ema[k].copy_(v)
        step, losses, earlier_seconds = state["step"], state["losses"], state.get("seconds", 0.0)
    start, first_step = time.time(), step
    warmup = args.warmup
    rng = np.random.default_rng(args.seed + step)
    pending = []
    while time.time() - start < args.minutes * 60 and step < args.max_steps:
        if step % 100 == 0:
            data.refresh()
        idx = torch.from_numpy(rng.integers(0, len(data.images), args.batch)).to(device)
        x0 = data.images[idx].float() / 127.5 - 1
        # No horizontal flips: captions state left/right relations. One of each picture's captions at random.
        which = torch.from_numpy(rng.integers(0, 1 << 30, args.batch)).to(device) % data.caption_count[idx]
        if args.relation_share > 0:
            rel = data.relation[idx]
            pick = (rel >= 0) & torch.from_numpy(rng.random(args.batch) < args.relation_share).to(device)
            which = torch.where(pick, rel, which)
        tokens = data.tokens[idx, which]
        drop = torch.from_numpy(rng.random(args.batch) < 0.1).to(device)
        tokens = torch.where(drop[:, None], empty.expand_as(tokens), tokens)
        t = torch.from_numpy(rng.integers(args.min_timestep, 1000, args.batch)).to(device)
        noise = torch.randn_like(x0)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        if device == "cuda":
            xt = xt.contiguous(memory_format=torch.channels_last)
        v = a.sqrt() * noise - (1 - a).sqrt() * x0
        lr = args.lr * min(1, (step + 1) / warmup) * (0.5 * (1 + math.cos(math.pi * min(1, (time.time() - start) / (args.minutes * 60)))) * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda" or args.cpu_bf16):
            ctx = text(tokens).last_hidden_state
            pred = unet(xt, t, encoder_hidden_states=ctx).sample
        loss = (F.mse_loss(pred.float(), v, reduction="none").mean((1, 2, 3)) * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_list, [p.detach().float() for p in live_list], 1 - decay)
        # Read back every 50 steps, not every step: a `.item()` per step stalls the GPU queue.
        pending.append(loss.detach())
        step += 1
        if len(pending) == 50:
            losses.extend(torch.stack(pending).tolist()); pending = []
        if step % 200 == 0:
            print(f"step {step} loss {np.mean(losses[-200:]):.4f} lr {lr:.2e} {time.time() - start:.0f}s "
                  f"{(step - first_step) * args.batch / (time.time() - start):.0f} pictures/s", flush=True)
    losses.extend(torch.stack(pending).tolist() if pending else [])
    print(f"{step} steps ({step - first_step} in this run) in {time.time() - start:.0f}s: "
          f"{(step - first_step) * args.batch / (time.time() - start):.0f} pictures/s", flush=True)
    seconds = earlier_seconds + time.time() - start
    torch.save({"unet": unet.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(), "ema": ema, "step": step,
                "losses": losses, "seconds": seconds}, ckpt)
    export(args.out, unet, text, ema, size, step, losses, seconds, len(data.images), device, args.batch, vae_from=args.init)


def export(out, unet, text, ema, size, steps, losses, seconds, n, device, batch, vae_from=None):
    """Writes the diffusers folder. A `vae` (the upsampler of train_upsampler.py) in `vae_from`, the
    --init folder, is carried over unchanged: it decodes the same 32×32 pictures."""
    vae = os.path.join(vae_from, "vae") if vae_from else None
    has_vae = bool(vae) and os.path.isdir(vae)
    if has_vae and os.path.abspath(vae) != os.path.abspath(os.path.join(out, "vae")):
        shutil.copytree(vae, os.path.join(out, "vae"), dirs_exist_ok=True)
    unet.load_state_dict({k: ema[k].to(v.dtype) for k, v in unet.state_dict().items()})
    text.load_state_dict({k: ema["text." + k].to(v.dtype) for k, v in text.state_dict().items()})
    unet.to("cpu").to(memory_format=torch.contiguous_format).half().save_pretrained(os.path.join(out, "unet"))
    text.to("cpu").half().save_pretrained(os.path.join(out, "text_encoder"))
    scheduler().save_pretrained(os.path.join(out, "scheduler"))
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
                   "scheduler": ["diffusers", "DPMSolverMultistepScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
                   "vae": ["diffusers", "AutoencoderTiny"] if has_vae else [None, None], "safety_checker": [None, None], "feature_extractor": [None, None],
                   "requires_safety_checker": False}, f, indent=2)
    log = {"steps": steps, "batch": batch, "size": size, "seconds": seconds, "images": n, "device": device,
           "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
           "loss_every_50": [float(np.mean(losses[i:i + 50])) for i in range(0, len(losses), 50)]}
    with open(os.path.join(out, "training_log.json"), "w") as f:
        json.dump(log, f)
    try:
        from plot_log import plot  # beside this file; needs matplotlib
        plot(log, os.path.join(out, "loss.png"))
    except Exception as e:  # plotting is optional
        print("no loss plot:", e)
    print("exported", out, flush=True)


if __name__ == "__main__":
    main()

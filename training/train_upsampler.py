#!/usr/bin/env python3
"""Trains the 4× upsampler that turns lumen-tiny into a latent model: an `AutoencoderTiny` (TAESD's
architecture, diffusers' class) whose "latent" is the 32×32 RGB picture the UNet denoises and whose
decoder paints it at 128×128. Added to the model folder as its `vae`, it makes lumen-tiny a standard
`StableDiffusionPipeline` with a tiny autoencoder: diffusers and Lumen's engine load and run it with no
special code (the UNet is unchanged; `vae_scale_factor` = 2^(3 − 1) = 4).

Data: the same scene rendered by `lumen scenes render` at 32×32 and at 128×128 (both 2× supersampled,
as the UNet's training pictures are), same `--seed`. Scenes whose captions differ between the two sizes
(the sampler's visibility check runs at the render size) are dropped. The decoder's input is, half the
time, the real 32×32 render (the UNet's own picture distribution, style filters included), otherwise
the 4×4 box average of the 128×128 render; Gaussian noise of σ ∈ [0, 0.03] is added to it so grain
in generated pictures is not sharpened into texture. Loss: L1 on the decoder's 128×128 output, plus L1
of the encoder's 32×32 latent against the box average (the encoder only serves img2img). Trained on
whole pictures by default (`--crop N` trains on N×N latent crops instead: the networks are fully
convolutional, but crops put zero padding where a picture has content).

    lumen scenes render --count 8000 --size 128 --supersample 2 --samples 1 --seed 31 --out data/r128/u
    lumen scenes render --count 8000 --size 32  --supersample 2 --samples 1 --seed 31 --out data/r32/u
    python training/train_upsampler.py --pairs data/r32 data/r128 --out models/lumen-tiny --minutes 35 --batch 12 --bf16
"""
import argparse
import glob
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderTiny
from PIL import Image

# 48 channels: the decoder costs ~3.4 GFLOP per 128×128 picture, under a tenth of the 8 guided
# UNet steps; (2, 2, 1) blocks put most layers at the cheap 32² and 64² levels.
CONFIG = dict(in_channels=3, out_channels=3, latent_channels=3, encoder_block_out_channels=(32, 32, 32),
              decoder_block_out_channels=(48, 48, 48), num_encoder_blocks=(1, 1, 1), num_decoder_blocks=(2, 2, 1),
              upsampling_scaling_factor=2, act_fn="relu", scaling_factor=1.0)


def load_pairs(low_root, high_root):
    """uint8 arrays (N×32×32×3 real low renders, N×128×128×3 high renders) of the scenes both sizes agree on."""
    lows, highs, dropped = [], [], 0
    for high_dir in sorted(glob.glob(os.path.join(high_root, "*"))):
        low_dir = os.path.join(low_root, os.path.basename(high_dir))
        if not os.path.exists(os.path.join(high_dir, "scenes.jsonl")):
            continue
        low_caps = {}
        with open(os.path.join(low_dir, "scenes.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                low_caps[j["file"]] = j["captions"]
        with open(os.path.join(high_dir, "scenes.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                if low_caps.get(j["file"]) != j["captions"]:
                    dropped += 1
                    continue
                lows.append(np.asarray(Image.open(os.path.join(low_dir, j["file"])).convert("RGB")))
                highs.append(np.asarray(Image.open(os.path.join(high_dir, j["file"])).convert("RGB")))
    print(f"{len(highs)} pairs ({dropped} scenes differ between the sizes, dropped)", flush=True)
    return np.stack(lows), np.stack(highs)


def to_signed(u8):
    """N×H×W×3 uint8 → N×3×H×W float in [-1, 1]."""
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1


def box4(x):
    return F.avg_pool2d(x, 4)


def batch(lows, highs, idx, crop, rng):
    lo, hi = to_signed(lows[idx]), to_signed(highs[idx])
    use_box = torch.from_numpy(rng.random(len(idx)) < 0.5).view(-1, 1, 1, 1)
    box = box4(hi)
    lo = torch.where(use_box, box, lo)
    lo = lo + torch.randn_like(lo) * torch.from_numpy(rng.random(len(idx)) * 0.03).float().view(-1, 1, 1, 1)
    if crop:
        ys, xs = rng.integers(0, 32 - crop + 1, len(idx)), rng.integers(0, 32 - crop + 1, len(idx))
        lo = torch.stack([lo[k, :, y:y + crop, x:x + crop] for k, (y, x) in enumerate(zip(ys, xs))])
        box = torch.stack([box[k, :, y:y + crop, x:x + crop] for k, (y, x) in enumerate(zip(ys, xs))])
        hi = torch.stack([hi[k, :, 4 * y:4 * (y + crop), 4 * x:4 * (x + crop)] for k, (y, x) in enumerate(zip(ys, xs))])
    return lo, box, hi


def psnr(a, b):
    mse = ((a.clamp(-1, 1) - b) ** 2).mean().item() / 4  # in [0, 1] units
    return 10 * math.log10(1 / max(mse, 1e-12))


@torch.no_grad()
def evaluate(vae, lows, highs):
    """PSNR (dB) of the decoder on real 32×32 renders, against bicubic upsampling of the same input."""
    lo, hi = to_signed(lows), to_signed(highs)
    out = torch.cat([vae.decode(lo[i:i + 64]).sample for i in range(0, len(lo), 64)])
    bicubic = F.interpolate(lo, scale_factor=4, mode="bicubic", align_corners=False)
    enc = torch.cat([vae.encode(hi[i:i + 64]).latents for i in range(0, len(hi), 64)])
    return psnr(out, hi), psnr(bicubic, hi), psnr(enc, box4(hi))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", nargs=2, required=True, metavar=("LOW_ROOT", "HIGH_ROOT"),
                    help="folders of render folders at 32 and 128 (same subfolder names, same seeds)")
    ap.add_argument("--out", required=True, help="model folder: the upsampler is written as its vae/ and model_index.json gains it")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=0, help="latent crop size (0: whole pictures)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--heldout", type=int, default=256, help="pairs kept out of training for the PSNR table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (1.85× faster on an AVX512-BF16 CPU; weights stay fp32)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    torch.set_num_threads(os.cpu_count())

    lows, highs = load_pairs(*a.pairs)
    order = rng.permutation(len(lows))
    test, train = order[:a.heldout], order[a.heldout:]
    vae = AutoencoderTiny(**CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=a.lr, weight_decay=0.0)
    print(f"{sum(p.numel() for p in vae.decoder.parameters())} decoder parameters, "
          f"{sum(p.numel() for p in vae.encoder.parameters())} encoder parameters", flush=True)

    start, step, log = time.time(), 0, []
    budget = a.minutes * 60
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = rng.choice(train, a.batch)
        lo, box, hi = batch(lows, highs, idx, a.crop, rng)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            dec = vae.decode(lo).sample
            enc = vae.encode(hi).latents
        loss_dec, loss_enc = F.l1_loss(dec.float(), hi), F.l1_loss(enc.float(), box)
        opt.zero_grad(set_to_none=True)
        (loss_dec + loss_enc).backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log.append({"step": step, "seconds": round(time.time() - start, 1), "decoder_l1": loss_dec.item(), "encoder_l1": loss_enc.item()})
            print(json.dumps(log[-1]), flush=True)

    vae.eval()
    dec_psnr, bicubic_psnr, enc_psnr = evaluate(vae, lows[test], highs[test])
    summary = {"steps": step, "batch": a.batch, "crop": a.crop, "seconds": round(time.time() - start), "pairs": len(train),
               "heldout_pairs": len(test), "decoder_psnr_db": round(dec_psnr, 2), "bicubic_psnr_db": round(bicubic_psnr, 2),
               "encoder_psnr_db": round(enc_psnr, 2), "log": log}
    print(json.dumps({k: v for k, v in summary.items() if k != "log"}), flush=True)

    vae.to(torch.float16).save_pretrained(os.path.join(a.out, "vae"))
    with open(os.path.join(a.out, "vae", "training_log.json"), "w") as f:
        json.dump(summary, f, indent=1)
    index_path = os.path.join(a.out, "model_index.json")
    with open(index_path) as f:
        index = json.load(f)
    index["vae"] = ["diffusers", "AutoencoderTiny"]
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print("wrote", os.path.join(a.out, "vae"), flush=True)


if __name__ == "__main__":
    main()

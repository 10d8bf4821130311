#!/usr/bin/env python3
"""Acceptance check: builds tiny random SD1-style and SD2-style pipelines with configs, seeds and
sizes the unit tests never saw, runs diffusers (CPU, fp32) and `lumen generate` with the same
settings, and reports the per-channel mean/max absolute difference of the 8-bit pictures.
Bar: mean ≤ 1/255 and max ≤ 4/255. Usage (from the repo root, after `swift build -c release`):

    python tools/compare_with_diffusers.py [--lumen .build/release/lumen] [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402


def build(kind, folder, seed, fp16):
    pipe, tok_dir = mf.tiny_components(kind, seed)
    import shutil
    shutil.rmtree(tok_dir)
    if fp16:
        pipe.to(torch.float16)
        pipe.save_pretrained(folder, variant="fp16")
    else:
        pipe.save_pretrained(folder)
    kwargs = {"variant": "fp16"} if fp16 else {}
    return StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, torch_dtype=torch.float32, **kwargs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lumen", default=".build/release/lumen")
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="lumen-compare-")
    failures = 0
    for kind, seed, fp16 in [("sd1", 31, False), ("sd2", 57, False), ("sd1", 77, True), ("sd2", 91, True)]:
        folder = os.path.join(work, f"{kind}-{seed}{'-fp16' if fp16 else ''}")
        pipe = build(kind, folder, seed, fp16)
        base = dict(pipe.scheduler.config)
        for sched in ["euler", "euler-a", "dpm++2m", "dpm++2m-karras", "ddim", "lcm", "pndm"]:
            for guidance in [1.0, 6.5]:
                pipe.scheduler = mf.scheduler_from(sched, base)
                h, w = (40, 24) if kind == "sd1" else (24, 48)
                prompt, neg, s = "a small blue metal sphere behind a green cylinder", "blurry, dark", seed * 3 + 1
                ref = pipe(prompt, negative_prompt=neg, num_inference_steps=3, guidance_scale=guidance, height=h,
                           width=w, generator=torch.Generator("cpu").manual_seed(s)).images[0]
                out = os.path.join(work, f"{os.path.basename(folder)}-{sched}-{guidance}.png")
                cmd = [args.lumen, "generate", prompt, "--model", folder, "--negative-prompt", neg, "--steps", "3",
                       "--guidance", str(guidance), "--width", str(w), "--height", str(h), "--seed", str(s),
                       "--scheduler", sched, "--output", out, "--quiet"]
                if fp16:
                    cmd += ["--variant", "fp16"]
                subprocess.run(cmd, check=True)
                a = np.asarray(Image.open(out).convert("RGB")).astype(np.int16)
                b = np.asarray(ref.convert("RGB")).astype(np.int16)
                diff = np.abs(a - b)
                mean = diff.reshape(-1, 3).mean(axis=0).max()
                mx = diff.max()
                ok = mean <= 1 and mx <= 4
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(folder):14} {sched:15} g={guidance:<4} mean={mean:.3f}/255 max={mx}/255")
    print("all within 1/255 mean and 4/255 max" if failures == 0 else f"{failures} case(s) outside the bar")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Side-by-side CPU benchmark: Lumen vs diffusers (PyTorch) [vs stable-diffusion.cpp when installed]
on the full-size SD-Turbo architecture (SD 2.1 UNet, OpenCLIP ViT-H text encoder, SD VAE) with
random fp16 weights — speed does not depend on the values. Stages are timed in the same run,
alternating tools run by run, and medians are reported with ratios (peer ÷ Lumen).

    python -m venv ~/venv && ~/venv/bin/pip install torch diffusers transformers safetensors
    swift build -c release && ~/venv/bin/python bench/run_bench.py [--runs 3] [--sizes 512,256]

Writes docs/benchmarks.md. Never run it while a build or training is going (2 shared cores).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "a photo of a red cube on a sandy beach at golden hour"


def build_sd_turbo(folder):
    """The SD-Turbo (SD 2.1) architecture with random weights, as a diffusers folder in fp16."""
    if os.path.exists(os.path.join(folder, "model_index.json")):
        return
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True, upcast_attention=False)
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        sample_size=768)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                        num_hidden_layers=23, hidden_act="gelu", projection_dim=512, vocab_size=49408))
    tok = CLIPTokenizer(os.path.join(ROOT, "models/clip-tokenizer/vocab.json"),
                        os.path.join(ROOT, "models/clip-tokenizer/merges.txt"), pad_token="!", model_max_length=77)
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   timestep_spacing="trailing", prediction_type="epsilon")
    # The constructors' own random initialisation keeps activations at a normal scale (no
    # denormals, which would slow every tool down and measure nothing useful).
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tok, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(folder)


def median(xs):
    return statistics.median(xs)


def time_it(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bf16_is_faster():
    """A quick probe (GEMM of UNet-like shape) instead of a full bf16 run, which can take many
    minutes on CPUs without native bf16 dot products."""
    a, b = torch.randn(4096, 640), torch.randn(640, 640)
    def t(dtype):
        x, y = a.to(dtype), b.to(dtype)
        x @ y
        start = time.perf_counter()
        for _ in range(5):
            x @ y
        return time.perf_counter() - start
    return t(torch.bfloat16) < t(torch.float32)


def torch_bench(pipe, size, steps, guidance, runs, bf16):
    results = {"text_encoder_s": [], "unet_step_s": [], "vae_decode_s": [], "total_s": []}
    lat = torch.randn(1, 4, size // 8, size // 8)
    ids = pipe.tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
    batch = 2 if guidance > 1 else 1
    ctx = torch.randn(batch, 77, 1024)
    ctx_mgr = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else (lambda: torch.no_grad())

    def run_all():
        with torch.no_grad(), ctx_mgr():
            results["text_encoder_s"].append(time_it(lambda: pipe.text_encoder(ids)))
            results["unet_step_s"].append(time_it(lambda: pipe.unet(torch.cat([lat] * batch), 999, encoder_hidden_states=ctx)))
            results["vae_decode_s"].append(time_it(lambda: pipe.vae.decode(lat / 0.18215)))
            results["total_s"].append(time_it(lambda: pipe(PROMPT, num_inference_steps=steps, guidance_scale=guidance,
                                                           height=size, width=size, output_type="np")))
    return run_all, results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="512")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/lumen-bench/sd-turbo-random"))
    ap.add_argument("--lumen", default=os.path.join(ROOT, ".build/release/lumen"))
    ap.add_argument("--no-bf16", action="store_true")
    args = ap.parse_args()
    build_sd_turbo(args.cache)
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    if not args.no_bf16 and not bf16_is_faster():
        print("bf16 autocast is slower than fp32 on this CPU (no native bf16 dot products); timing PyTorch in fp32 only", flush=True)
        args.no_bf16 = True
    pipe = StableDiffusionPipeline.from_pretrained(args.cache, torch_dtype=torch.float32, variant=None, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for steps, guidance in [(1, 0.0)]:
            # warm-up
            warm, _ = torch_bench(pipe, size, steps, guidance, 1, False)
            warm()
            fp32_run, fp32 = torch_bench(pipe, size, steps, guidance, args.runs, False)
            bf16_run, bf16 = torch_bench(pipe, size, steps, guidance, args.runs, True)
            print(f"{size}px: timing Lumen and PyTorch, {args.runs} alternating runs", flush=True)
            lumen = {k: [] for k in fp32}
            lumen_rss = 0
            for _ in range(args.runs):
                out = subprocess.run([args.lumen, "bench", "--model", args.cache, "-W", str(size), "-H", str(size),
                                      "--steps", str(steps), "--guidance", str(guidance), "--runs", "1", "--json"],
                                     check=True, capture_output=True, text=True).stdout
                j = json.loads(out)
                for k in lumen:
                    lumen[k].append(j[k])
                lumen_rss = max(lumen_rss, j["peak_rss_bytes"])
                print("  lumen", {k: round(v[-1], 3) for k, v in lumen.items()}, flush=True)
                fp32_run()
                print("  torch fp32", {k: round(v[-1], 3) for k, v in fp32.items()}, flush=True)
                if not args.no_bf16:
                    bf16_run()
            row = {"size": size, "steps": steps, "guidance": guidance, "lumen": {k: median(v) for k, v in lumen.items()},
                   "torch_fp32": {k: median(v) for k, v in fp32.items()}, "lumen_peak_rss": lumen_rss}
            if not args.no_bf16:
                row["torch_bf16"] = {k: median(v) for k, v in bf16.items()}
            rows.append(row)
            print(json.dumps(row, indent=1))
    write_report(rows, args)


def write_report(rows, args):
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    import diffusers, transformers
    lines = ["# Benchmarks", "",
             "Produced by `bench/run_bench.py` (random full-size SD-Turbo weights, fp16 on disk, fp32 compute unless noted).",
             "Medians of runs alternated between tools in one process tree; ratio = peer time ÷ Lumen time (> 1: Lumen faster).", "",
             f"- Machine: {cpu}, {os.cpu_count()} cores",
             f"- Versions: torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}, Lumen (this commit)",
             f"- Runs per tool: {args.runs}", ""]
    for r in rows:
        lines.append(f"## {r['size']}×{r['size']}, {r['steps']} step(s), guidance {r['guidance']}")
        lines.append("")
        peers = [p for p in ["torch_fp32", "torch_bf16"] if p in r]
        lines.append("| stage | Lumen (s) | " + " | ".join(f"{p} (s) | ratio" for p in peers) + " |")
        lines.append("|---|---|" + "---|---|" * len(peers))
        for k in ["text_encoder_s", "unet_step_s", "vae_decode_s", "total_s"]:
            l = r["lumen"][k]
            cells = " | ".join(f"{r[p][k]:.3f} | {r[p][k] / l:.2f}×" for p in peers)
            lines.append(f"| {k[:-2]} | {l:.3f} | {cells} |")
        lines.append("")
        lines.append(f"Lumen peak RSS: {r['lumen_peak_rss'] / 2**30:.2f} GiB")
        lines.append("")
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()

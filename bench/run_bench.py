#!/usr/bin/env python3
"""Side-by-side CPU benchmark: Lumen vs diffusers (PyTorch) vs stable-diffusion.cpp (through the
`stable-diffusion-cpp-python` package, built for this CPU) on the full-size SD-Turbo architecture (SD 2.1 UNet, OpenCLIP ViT-H
text encoder, SD VAE, and TAESD) with random fp16 weights — speed does not depend on the values.

Every tool runs as its own subprocess per run (so each one's peak memory is its own), alternating
tool by tool, run by run. Each subprocess does one untimed warm-up generation, then times the
stages (text encoder, one UNet call at the guided batch, VAE decode) and one full generation.
Medians are reported with ratios (peer time ÷ Lumen time: > 1 means Lumen is faster). The CPU's
own GEMM peak (fp32 and bf16, through PyTorch's oneDNN/MKL kernels) is measured in the same
run, and the UNet step's achieved FLOP/s (standard direct-convolution FLOPs, counted by
`torch.utils.flop_counter` on the same UNet) is given as a fraction of it.

    python -m venv ~/venv && ~/venv/bin/pip install torch diffusers transformers safetensors
    CMAKE_ARGS="-DGGML_NATIVE=ON" ~/venv/bin/pip install stable-diffusion-cpp-python   # ~10 min build
    swift build -c release --product lumen
    ~/venv/bin/python bench/run_bench.py [--runs 2] [--configs 512-1,512-4g,256-1] [--decoders vae,taesd]

Writes docs/benchmarks.md. Never run it while a build or training is going (2 shared cores).
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "a photo of a red cube on a sandy beach at golden hour"
# name → (size, steps, guidance). "4g": 4 steps with classifier-free guidance (a doubled batch).
CONFIGS = {"512-1": (512, 1, 0.0), "512-4g": (512, 4, 2.0), "256-1": (256, 1, 0.0), "256-4g": (256, 4, 2.0)}
STAGES = ["text_encoder_s", "unet_step_s", "vae_decode_s", "total_s"]


def build_models(folder, taesd_folder):
    """The SD-Turbo (SD 2.1) architecture and TAESD with random weights, as diffusers folders in fp16."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    if not os.path.exists(os.path.join(folder, "model_index.json")):
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
    if not os.path.exists(os.path.join(taesd_folder, "config.json")):
        torch.manual_seed(1)
        AutoencoderTiny().to(torch.float16).save_pretrained(taesd_folder)


def sdcpp_folder(cache):
    """The same weights as stable-diffusion.cpp's diffusers loader expects them: it finds the text
    encoder by `text_model.…` names (as in the real SD-Turbo repository), which transformers ≥ 5
    no longer writes. UNet and VAE are linked, the text encoder re-saved with the prefix (fp16)."""
    from safetensors.torch import load_file, save_file
    folder = cache.rstrip("/") + "-sdcpp"
    te = os.path.join(folder, "text_encoder", "model.safetensors")
    if not os.path.exists(te):
        os.makedirs(os.path.dirname(te), exist_ok=True)
        for sub in ["unet", "vae"]:
            link = os.path.join(folder, sub)
            if not os.path.exists(link):
                os.symlink(os.path.join(cache, sub), link)
        tensors = load_file(os.path.join(cache, "text_encoder", "model.safetensors"))
        save_file({k if k.startswith("text_model.") else "text_model." + k: v for k, v in tensors.items()}, te)
    return folder


def peak_rss_bytes():
    """This process's peak resident memory: `VmHWM` of /proc/self/status. Not `getrusage`:
    Linux carries `ru_maxrss` across fork + exec, so every worker would report at least this
    script's own size at the moment it started the worker."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median(xs):
    return statistics.median(xs)


def time_it(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


PEAK_SIZES = (2048, 4096)


def gemm_peaks():
    """GFLOP/s of large square GEMMs in fp32 and bf16 through PyTorch (oneDNN/MKL kernels): the
    best of 5 runs at each size in PEAK_SIZES. Measured before and after the timed runs and the
    larger kept (`main`), so a slow moment of a shared machine does not set the bar low: one
    2048³ measurement alone ranged 348–414 GFLOP/s in bf16 across runs here."""
    import torch
    out = {}
    for name, dtype in [("fp32", torch.float32), ("bf16", torch.bfloat16)]:
        best = 0.0
        for n in PEAK_SIZES:
            a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
            a @ b
            best = max(best, 2 * n ** 3 / min(time_it(lambda: a @ b) for _ in range(5)) / 1e9)
        out[name] = best
    return out


def unet_flops(folder, size, batch):
    """Standard FLOPs (2 per multiply-add, direct convolution) of one UNet call."""
    import torch
    from diffusers import UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32)
    lat = torch.randn(batch, 4, size // 8, size // 8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(lat, 999, encoder_hidden_states=torch.randn(batch, 77, 1024))
    return counter.get_total_flops()


def torch_worker(args):
    """One timed run of diffusers in this process; prints JSON (stage times, peak RSS)."""
    import torch
    from diffusers import AutoencoderTiny, StableDiffusionPipeline
    torch.set_num_threads(os.cpu_count())
    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None)
    if args.decoder == "taesd":
        pipe.vae = AutoencoderTiny.from_pretrained(args.taesd, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    size, steps, guidance = CONFIGS[args.config]
    batch = 2 if guidance > 1 else 1
    lat = torch.randn(1, 4, size // 8, size // 8)
    ids = pipe.tokenizer(PROMPT, padding="max_length", max_length=77, return_tensors="pt").input_ids
    ctx = torch.randn(batch, 77, 1024)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    scale = pipe.vae.config.get("scaling_factor", 1.0) if args.decoder == "vae" else 1.0
    generate = lambda: pipe(PROMPT, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size, output_type="np")
    with torch.no_grad(), autocast:
        generate()  # warm-up (oneDNN primitive creation), untimed — as `lumen bench` does
        r = {"text_encoder_s": time_it(lambda: pipe.text_encoder(ids)),
             "unet_step_s": time_it(lambda: pipe.unet(torch.cat([lat] * batch), 999, encoder_hidden_states=ctx)),
             "vae_decode_s": time_it(lambda: pipe.vae.decode(lat / scale)),
             "total_s": time_it(generate)}
    r["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(r))


def sdcpp_worker(args):
    """One timed run of stable-diffusion.cpp in this process. Its API has no per-stage calls, so
    the stage times are read from its own log lines of the timed generation (text encoder:
    `get_learned_condition`, UNet: `sampling` ÷ steps — one step runs both guided passes —,
    decode: `decode_first_stage`); the total is timed here."""
    import stable_diffusion_cpp as sdcpp
    size, steps, guidance = CONFIGS[args.config]
    kwargs = {"model_path": args.model, "n_threads": os.cpu_count(), "verbose": True}
    if args.decoder == "taesd":
        kwargs["taesd_path"] = os.path.join(args.taesd, "diffusion_pytorch_model.safetensors")
    if args.sdcpp_wtype != "default":
        kwargs["wtype"] = args.sdcpp_wtype
    sd = sdcpp.StableDiffusion(**kwargs)
    generate = lambda: sd.generate_image(PROMPT, width=size, height=size, sample_steps=steps, seed=0,
                                         cfg_scale=guidance if guidance > 1 else 1.0, sample_method="euler")
    generate()  # warm-up, untimed
    print("@@timed", file=sys.stderr, flush=True)
    total = time_it(generate)
    print("@@end", file=sys.stderr, flush=True)
    print(json.dumps({"total_s": total, "steps": steps,
                      "peak_rss_bytes": peak_rss_bytes()}))


def parse_sdcpp_log(log, steps):
    import re
    timed = log.split("@@timed", 1)[-1].split("@@end", 1)[0]
    def seconds(pattern):
        m = re.search(pattern + r" completed, taking ([0-9.]+)(m?s)", timed)
        if not m:
            raise RuntimeError(f"stable-diffusion.cpp log has no '{pattern}' time:\n{timed[-2000:]}")
        return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    return {"text_encoder_s": seconds("get_learned_condition"), "unet_step_s": seconds("sampling") / steps,
            "vae_decode_s": seconds("decode_first_stage")}


def run_sdcpp(args, config, decoder):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "sdcpp", "--model", sdcpp_folder(args.cache),
           "--taesd", args.taesd, "--config", config, "--decoder", decoder, "--sdcpp-wtype", args.sdcpp_wtype]
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(parse_sdcpp_log(p.stderr, r["steps"]))
    return r


def run_lumen(args, config, decoder):
    size, steps, guidance = CONFIGS[config]
    cmd = [args.lumen, "bench", "--model", args.cache, "-W", str(size), "-H", str(size), "--steps", str(steps),
           "--guidance", str(guidance), "--runs", "1", "--json"]
    if decoder == "taesd":
        cmd += ["--decoder", args.taesd]
    env = dict(os.environ, LUMEN_BF16="1" if args.lumen_bf16 else "0")
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)


def run_torch(args, config, decoder, dtype):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "torch", "--model", args.cache, "--taesd", args.taesd,
           "--config", config, "--decoder", decoder, "--dtype", dtype]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def lumen_commit() -> str:
    """The checked-out commit the Lumen binary was built from (with `+changes` for a dirty tree)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "(unknown commit)"


def sdcpp_available():
    try:
        import stable_diffusion_cpp  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--configs", default="512-1,512-4g,256-1")
    ap.add_argument("--decoders", default="vae,taesd")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/lumen-bench/sd-turbo-random"))
    ap.add_argument("--taesd", default=os.path.expanduser("~/.cache/lumen-bench/taesd-random"))
    ap.add_argument("--lumen", default=os.path.join(ROOT, ".build/release/lumen"))
    ap.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto",
                    help="also time PyTorch with bf16 autocast (auto: when its bf16 GEMM beats fp32 here)")
    ap.add_argument("--lumen-bf16", choices=["auto", "yes", "no"], default="auto",
                    help="run Lumen with bf16 products (LUMEN_BF16=1, oneDNN; auto: when PyTorch's bf16 GEMM beats fp32 here)")
    ap.add_argument("--sdcpp", choices=["auto", "yes", "no"], default="auto",
                    help="also time stable-diffusion.cpp (auto: when stable-diffusion-cpp-python is installed)")
    ap.add_argument("--sdcpp-wtype", default="default",
                    help="stable-diffusion.cpp weight type (default: as stored, fp16; e.g. f32)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--append", action="store_true",
                    help="add this run's tables to an existing report (for example the long 4-step configs with fewer runs)")
    # Worker mode (internal): one PyTorch run in its own process.
    ap.add_argument("--worker")
    ap.add_argument("--model")
    ap.add_argument("--config")
    ap.add_argument("--decoder")
    ap.add_argument("--dtype", default="fp32")
    args = ap.parse_args()
    if args.worker == "torch":
        return torch_worker(args)
    if args.worker == "sdcpp":
        return sdcpp_worker(args)
    for c in args.configs.split(","):
        if c not in CONFIGS:
            sys.exit(f"unknown config {c!r}; known: {', '.join(CONFIGS)}")
    build_models(args.cache, args.taesd)
    peaks = gemm_peaks()
    print("GEMM peak GFLOP/s", {k: round(v, 1) for k, v in peaks.items()}, flush=True)
    dtypes = ["fp32"] + (["bf16"] if args.bf16 == "yes" or (args.bf16 == "auto" and peaks["bf16"] > peaks["fp32"]) else [])
    args.lumen_bf16 = args.lumen_bf16 == "yes" or (args.lumen_bf16 == "auto" and peaks["bf16"] > peaks["fp32"])
    use_sdcpp = args.sdcpp == "yes" or (args.sdcpp == "auto" and sdcpp_available())
    rows = []
    for config in args.configs.split(","):
        size, steps, guidance = CONFIGS[config]
        flops = unet_flops(args.cache, size, 2 if guidance > 1 else 1)
        for decoder in args.decoders.split(","):
            tools = {"lumen": lambda: run_lumen(args, config, decoder)}
            for d in dtypes:
                tools[f"torch_{d}"] = (lambda d=d: run_torch(args, config, decoder, d))
            if use_sdcpp:
                tools["sdcpp"] = lambda: run_sdcpp(args, config, decoder)
            results = {t: [] for t in tools}
            for run in range(args.runs):
                for name, fn in tools.items():
                    r = fn()
                    results[name].append(r)
                    print(f"{config} {decoder} run {run + 1} {name}: " + ", ".join(f"{k} {r[k]:.3f}" for k in STAGES), flush=True)
            row = {"config": config, "size": size, "steps": steps, "guidance": guidance, "decoder": decoder,
                   "unet_gflop": flops / 1e9}
            for name, rs in results.items():
                row[name] = {k: median([r[k] for r in rs]) for k in STAGES}
                row[name]["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in rs)
            rows.append(row)
    after = gemm_peaks()
    print("GEMM peak GFLOP/s after the timed runs", {k: round(v, 1) for k, v in after.items()}, flush=True)
    peaks = {k: max(v, after[k]) for k, v in peaks.items()}
    write_report(rows, peaks, dtypes, use_sdcpp, args)


def write_report(rows, peaks, dtypes, use_sdcpp, args):
    import diffusers
    import torch
    import transformers
    cpu = platform.processor() or ""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cpu = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        have = set(next(l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags")))
        flags = ", ".join(f for f in ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"] if f in have)
    except Exception:
        pass
    peers = [f"torch_{d}" for d in dtypes] + (["sdcpp"] if use_sdcpp else [])
    sdcpp_version = "not installed"
    if sdcpp_available():
        import importlib.metadata
        sdcpp_version = importlib.metadata.version("stable-diffusion-cpp-python")
    lines = ["# Benchmarks", "",
             "Produced by `bench/run_bench.py`: random full-size SD-Turbo weights (fp16 on disk; Lumen keeps GEMM weights in fp16 and computes in "
             + ("fp32, with large matrix products and Winograd's products in bf16 through oneDNN (`LUMEN_BF16=1`; weights then kept in bf16)" if args.lumen_bf16 else "fp32") + "), "
             "each tool in its own process per run, alternating; medians; ratio = peer time ÷ Lumen time (> 1: Lumen faster).", "",
             f"- Machine: {cpu}, {os.cpu_count()} cores ({flags})",
             f"- Versions: torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}, Lumen {lumen_commit()}",
             f"- Runs per tool: {args.runs}",
             f"- GEMM peak (PyTorch; best of 5 at {' and '.join(f'{n}³' for n in PEAK_SIZES)}, measured before and after the timed runs, the larger kept): fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 {peaks['bf16']:.1f} GFLOP/s",
             "- stable-diffusion.cpp: " + (f"stable-diffusion-cpp-python {sdcpp_version} (built from source for this CPU, "
                                           f"weights {'as stored (fp16)' if args.sdcpp_wtype == 'default' else args.sdcpp_wtype}, "
                                           "stage times from its own log)" if use_sdcpp
                                           else "not measured (`stable-diffusion-cpp-python` is not installed here)"),
             ""]
    appending = args.append and os.path.exists(args.out)
    if appending:
        lines = []
    precision = "bf16" if args.lumen_bf16 else "fp32"
    for r in rows:
        title = f"## {r['size']}×{r['size']}, {r['steps']} step(s), guidance {r['guidance']}, decoder {r['decoder']}"
        lines += [title + (f" ({args.runs} run(s) per tool; this run's {precision} GEMM peak {peaks[precision]:.1f} GFLOP/s)"
                           if appending else ""), ""]
        lines.append("| stage | Lumen (s) | " + " | ".join(f"{p} (s) | ratio" for p in peers) + " | vs fastest peer |")
        lines.append("|---|---|" + "---|---|" * len(peers) + "---|")
        for k in STAGES:
            l = r["lumen"][k]
            cells = " | ".join(f"{r[p][k]:.3f} | {r[p][k] / l:.2f}×" for p in peers)
            lines.append(f"| {k[:-2]} | {l:.3f} | {cells} | {min(r[p][k] for p in peers) / l:.2f}× |")
        mem = " | ".join(f"{r[p]['peak_rss_bytes'] / 2**30:.2f} | {r[p]['peak_rss_bytes'] / r['lumen']['peak_rss_bytes']:.2f}×" for p in peers)
        lean = min(r[p]['peak_rss_bytes'] for p in peers) / r['lumen']['peak_rss_bytes']
        lines.append(f"| peak RSS (GiB) | {r['lumen']['peak_rss_bytes'] / 2**30:.2f} | {mem} | {lean:.2f}× |")
        achieved = r["unet_gflop"] / r["lumen"]["unet_step_s"]
        lines += ["", f"UNet call: {r['unet_gflop']:.0f} GFLOP (direct); Lumen {achieved:.0f} GFLOP/s = "
                      f"{100 * achieved / peaks[precision]:.0f} % of the {precision} GEMM peak", ""]
    with open(args.out, "a" if appending else "w") as f:
        f.write(("\n" if appending else "") + "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

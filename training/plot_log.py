#!/usr/bin/env python3
"""Draws a model's training loss curve (`loss.png`) from its `training_log.json`.

The log is either one run as `train.py` writes it, or `{"stages": [run, run, …]}` when a model was
trained in several runs (for example pre-training, then a fine-tune from it with another batch
size). The x axis counts pictures seen, so stages with different batch sizes line up. The
upsampler's log (`vae/training_log.json`, from `train_upsampler.py`) is drawn as its L1 losses.

    python training/plot_log.py models/lumen-tiny/training_log.json models/lumen-tiny/loss.png
    python training/plot_log.py models/lumen-tiny/vae/training_log.json models/lumen-tiny/vae/loss.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(log, png_path):
    """Writes the curve of `log` (a parsed training_log.json) to `png_path`."""
    stages = log.get("stages", [log])
    size = stages[-1].get("size", 32)
    plt.figure(figsize=(6.5, 3.6))
    seen = 0
    for i, stage in enumerate(stages):
        batch = stage.get("batch", 256)
        ys = stage["loss_every_50"]
        xs = [(seen + (j + 1) * 50 * batch) / 1e6 for j in range(len(ys))]
        plt.plot(xs, ys, label=stage.get("name", f"stage {i + 1}"))
        if i:
            plt.axvline(seen / 1e6, color="gray", lw=0.6, ls="--")
        seen += stage["steps"] * batch
    plt.xlabel("pictures seen (millions)")
    plt.ylabel("v-prediction MSE (mean of 50 steps)")
    plt.yscale("log")
    plt.title(f"Lumen tiny ({size}×{size}): training loss")
    if len(stages) > 1:
        plt.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(png_path, dpi=100)
    plt.close()


def plot_upsampler(summary, png_path):
    """Writes the upsampler's decoder and encoder L1 curves (logged every 50 steps) to `png_path`."""
    batch, log = summary["batch"], summary["log"]
    xs = [e["step"] * batch / 1e3 for e in log]
    plt.figure(figsize=(6.5, 3.6))
    plt.plot(xs, [e["decoder_l1"] for e in log], label="decoder: 32×32 → 128×128")
    plt.plot(xs, [e["encoder_l1"] for e in log], label="encoder: 128×128 → 32×32 (img2img only)")
    plt.xlabel("pictures seen (thousands)")
    plt.ylabel("L1 in [-1, 1] units (one batch)")
    plt.yscale("log")
    plt.title(f"Lumen tiny upsampler: training loss (held-out PSNR {summary['decoder_psnr_db']} dB)", fontsize=10)
    plt.legend(fontsize=8)
    plt.tight_layout()
    plt.savefig(png_path, dpi=100)
    plt.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_log.py TRAINING_LOG.json OUT.png")
    with open(sys.argv[1]) as f:
        log = json.load(f)
    (plot_upsampler if "decoder_psnr_db" in log else plot)(log, sys.argv[2])

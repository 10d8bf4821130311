#!/usr/bin/env python3
"""Fixtures for `lumen eval`'s numerical parts (run from the repository root in a virtualenv with
torch, safetensors, numpy and scipy):

    python tools/make_eval_fixtures.py

- `checker-tiny/`: a tiny random `SceneChecker` (training/checker.py) with a reference input
  picture, its resized input, hidden features and logits (`checker-tiny-io.safetensors`);
- `frechet.safetensors`: two feature sets and their Fréchet distance computed as pytorch-fid
  does (scipy.linalg.sqrtm of Σ₁Σ₂), independent of Lumen's eigen-decomposition route.
"""
import json
import os
import sys

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))
from checker import SceneChecker  # noqa: E402

FIX = os.path.join(ROOT, "Tests", "LumenEngineTests", "Fixtures")


def main():
    torch.manual_seed(0)
    m = SceneChecker(image_size=16, block_out_channels=(4, 8, 8), hidden_size=12, norm_num_groups=2).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    out = os.path.join(FIX, "checker-tiny")
    os.makedirs(out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(m.config, f, indent=2)
    g = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (20, 24, 3), generator=g, dtype=torch.uint8)  # H=20, W=24
    x = pixels.permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False, antialias=False) / 127.5 - 1
    with torch.no_grad():
        feats = m.embed(x)
        logits = m.head(feats)
    save_file({"pixels": pixels.float(), "input": x, "features": feats, "logits": logits},
              os.path.join(FIX, "checker-tiny-io.safetensors"))

    rng = np.random.default_rng(2)
    a = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(30, 6)) @ rng.normal(size=(6, 6)) + 0.5
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    save_file({"a": torch.tensor(a, dtype=torch.float32), "b": torch.tensor(b, dtype=torch.float32),
               "distance": torch.tensor([fd], dtype=torch.float32)}, os.path.join(FIX, "frechet.safetensors"))
    print("checker fixture and Fréchet distance", fd)


if __name__ == "__main__":
    main()

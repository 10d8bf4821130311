#!/usr/bin/env python3
"""Trains the scene checker (`checker.py`) on training-split renders and checks it on held-out
renders; exports `config.json` + `model.safetensors` (fp16) for `lumen eval`.

    python training/train_checker.py --shards data/shards --out models/lumen-checker --minutes 6

Horizontal flips are used with the object slots reversed (left/right stays true); mild blur and
noise make it robust to generated pictures, which are softer than renders.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from safetensors.torch import save_file

from checker import HEADS, SceneChecker
from shards import SLOTS, labels, read_shard, ready_shards


class Data:
    def __init__(self, folder, pattern, size, device):
        self.folder, self.pattern, self.size, self.device = folder, pattern, size, device
        self.loaded, self.images, self.targets = set(), [], []

    def refresh(self):
        for p in ready_shards(self.folder, self.pattern):
            if p in self.loaded:
                continue
            imgs, scenes = read_shard(p, self.size)
            self.images.append(torch.from_numpy(imgs).to(self.device).permute(0, 3, 1, 2).contiguous())
            self.targets.append(torch.tensor([labels(s) for s in scenes], device=self.device))
            self.loaded.add(p)
        if self.images:
            self.all_images, self.all_targets = torch.cat(self.images), torch.cat(self.targets)
            self.images, self.targets = [self.all_images], [self.all_targets]
        return len(self.loaded)


def augment(x, t, gen):
    flip = torch.rand(x.shape[0], device=x.device, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    t = t.clone()
    count = t[:, 0].clamp(max=SLOTS)
    idx = torch.arange(SLOTS, device=x.device)[None].expand(len(t), -1)
    rev = torch.where(idx < count[:, None], count[:, None] - 1 - idx, idx)  # reverse the filled slots
    for base in (4, 4 + SLOTS):
        slots = t[:, base:base + SLOTS]
        t[:, base:base + SLOTS] = torch.where(flip[:, None], slots.gather(1, rev), slots)
    blur = torch.rand(x.shape[0], device=x.device, generator=gen) < 0.3
    soft = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    x = torch.where(blur[:, None, None, None], soft, x)
    x = x + torch.randn(x.shape, device=x.device, generator=gen) * torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=gen) * 0.06
    return x, t


def evaluate(model, data):
    model.eval()
    right, n = torch.zeros(len(HEADS), device=data.all_images.device), 0
    with torch.no_grad():
        for i in range(0, len(data.all_images), 1024):
            x = data.all_images[i:i + 1024].float() / 127.5 - 1
            p = model.predict(model(x))
            right += (p == data.all_targets[i:i + 1024]).float().sum(0)
            n += len(x)
    model.train()
    return {name: round(float(r) / n, 4) for (name, _), r in zip(HEADS, right)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=6)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="fine-tune from a checker folder (config.json + model.safetensors)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(args.seed)
    # Training-split scenes plus `extra-*`: held-out-split scenes from another seed, so the checker
    # knows every colour–shape and shape–biome pair (the generator never sees those shards).
    train = Data(args.shards, "[te][rx]*-*", args.size, device)
    held = Data(args.shards, "heldout-*", args.size, device)
    while train.refresh() == 0:
        time.sleep(1)
    model = SceneChecker(image_size=args.size)
    if args.init:
        from safetensors.torch import load_file
        model.load_state_dict({k: v.float() for k, v in load_file(os.path.join(args.init, "model.safetensors")).items()})
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    start, step, log = time.time(), 0, []
    warmup = 50 if args.init else 200
    total = args.minutes * 60
    while time.time() - start < total and step < args.max_steps:
        if step % 100 == 0:
            train.refresh()
        idx = torch.randint(0, len(train.all_images), (args.batch,), device=device, generator=gen)
        x, t = augment(train.all_images[idx].float() / 127.5 - 1, train.all_targets[idx], gen)
        frac = min(1, (time.time() - start) / total)
        lr = args.lr * min(1, (step + 1) / warmup) * (0.5 * (1 + np.cos(np.pi * frac)) * 0.98 + 0.02)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model.loss(model(x), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % (500 if device == "cuda" else 50) == 0:
            log.append({"step": step, "loss": float(loss), "images": len(train.all_images), "seconds": round(time.time() - start)})
            print("checker", log[-1], flush=True)
    held.refresh()
    report = {"steps": step, "seconds": time.time() - start, "train_images": len(train.all_images), "log": log,
              "heldout_images": len(held.all_images) if held.loaded else 0,
              "heldout_accuracy": evaluate(model, held) if held.loaded else None}
    print("checker held-out accuracy", report["heldout_accuracy"], flush=True)
    os.makedirs(args.out, exist_ok=True)
    model = model.to("cpu").float()
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(model.config, f, indent=2)
    with open(os.path.join(args.out, "training_log.json"), "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

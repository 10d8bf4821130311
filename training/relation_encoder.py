#!/usr/bin/env python3
"""Teaches a trained text encoder to carry the left/right relation, keeping everything else it says.

lumen-tiny's jointly trained `CLIPTextModel` all but drops the relation word: swapping "left" for
"right" moves its output 0.8 % (`relation_probe.py`), so no UNet can place objects from it. Fine-tuning
encoder and UNet together on a CPU either left the encoder where it was or moved it faster than
the UNet could follow (models/lumen-tiny/README.md). This script does the encoder's half alone, cheaply
(no UNet, no pictures): a copy of the encoder (the student) is regressed onto the frozen original (the
teacher) on every caption of the training shards, except that in a left/right caption every position
from the relation word on — the second object, the end token and the padding, all of which see the
word through CLIP's causal mask — gets a fixed direction added, `+` for "(to the) left of" and `−` for
"(to the) right of", of `--strength` times the teacher's vector length there. The first object's tokens
cannot see the word (causal mask) and stay as they were. The UNet then only has to learn to read one
direction (train.py `--init OUT --text-lr-scale 0 --relation-share …`), and the export is a standard
diffusers folder as before: nothing in the engine changes.

    python training/relation_encoder.py --model models/lumen-tiny --shards S --out OUT --strength 0.25
    python training/relation_probe.py models/lumen-tiny OUT
"""
import argparse
import json
import os
import random
import re
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shards import ready_shards  # noqa: E402
from train import MAX_TOKENS, phrasings  # noqa: E402

# "to the left of" as the grammar says it, "left of" as --plain-captions (and users) say it.
LEFT, RIGHT = re.compile(r" (to the )?left of "), re.compile(r" (to the )?right of ")


def captions(folder):
    """Every distinct caption of the folder's complete training shards, also in the phrasings
    train.py's --sizeless-captions and --plain-captions add."""
    out = []
    for prefix in ready_shards(folder, "train-*"):
        with open(prefix + ".jsonl") as f:
            out += [c for line in f if line.strip() for c in phrasings(json.loads(line), sizeless=True, plain=True)]
    return sorted(set(out))


def relation_targets(tok, caps):
    """Token ids, and per caption the relation's sign (+1 left of, −1 right of, 0 none) and the first
    position whose token differs between the two relations (where the offset starts)."""
    ids = torch.tensor(tok(caps, padding="max_length", max_length=MAX_TOKENS, truncation=True).input_ids)
    sign = torch.tensor([1.0 if LEFT.search(c) else -1.0 if RIGHT.search(c) else 0.0 for c in caps])
    start = torch.full((len(caps),), MAX_TOKENS)
    swapped = [LEFT.sub(lambda m: m.group(0).replace("left", "right"), c) if s > 0 else
               RIGHT.sub(lambda m: m.group(0).replace("right", "left"), c) for c, s in zip(caps, sign.tolist())]
    other = torch.tensor(tok(swapped, padding="max_length", max_length=MAX_TOKENS, truncation=True).input_ids)
    for i in torch.nonzero(sign != 0).flatten().tolist():
        diff = torch.nonzero(ids[i] != other[i]).flatten()
        if len(diff):
            start[i] = diff[0]
    return ids, sign, start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="exported model folder whose text encoder is the teacher")
    ap.add_argument("--shards", required=True, help="training shards (their captions only)")
    ap.add_argument("--out", required=True, help="a copy of --model with the new text encoder")
    ap.add_argument("--strength", type=float, default=0.25, help="offset length as a fraction of the teacher vector's")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed); random.seed(args.seed); np.random.seed(args.seed)
    torch.set_num_threads(os.cpu_count())
    tok = CLIPTokenizer.from_pretrained(args.model, subfolder="tokenizer")
    teacher = CLIPTextModel.from_pretrained(args.model, subfolder="text_encoder").float().eval().requires_grad_(False)
    student = CLIPTextModel.from_pretrained(args.model, subfolder="text_encoder").float().train()
    caps = captions(args.shards)
    ids, sign, start = relation_targets(tok, caps)
    rel = torch.nonzero(sign != 0).flatten()
    print(f"{len(caps)} captions, {len(rel)} with a left/right relation", flush=True)
    # The direction: random, zero-mean over features (the final LayerNorm's outputs are, before its
    # affine part), scaled by that affine weight so the student can reach it.
    g = torch.Generator().manual_seed(1234)
    u = torch.randn(teacher.config.hidden_size, generator=g)
    final_norm = next(m for n, m in teacher.named_modules() if n.endswith("final_layer_norm"))
    u = (u - u.mean()) * final_norm.weight.detach()
    u = u / u.norm()
    positions = torch.arange(MAX_TOKENS)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    for step in range(args.steps):
        # Half the batch relation captions, half any caption, so the rest of the language is kept.
        pick = torch.cat([rel[torch.from_numpy(rng.integers(0, len(rel), args.batch // 2))],
                          torch.from_numpy(rng.integers(0, len(caps), args.batch - args.batch // 2))])
        x = ids[pick]
        with torch.no_grad():
            target = teacher(x).last_hidden_state
            mask = (positions[None, :] >= start[pick, None]).float() * sign[pick, None]
            target = target + args.strength * target.norm(dim=-1, keepdim=True) * mask[..., None] * u
        lr = args.lr * min(1, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        for grp in opt.param_groups:
            grp["lr"] = lr
        loss = F.mse_loss(student(x).last_hidden_state, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.5f} {time.time() - t0:.0f}s", flush=True)
    shutil.copytree(args.model, args.out, dirs_exist_ok=True)
    student.eval().half().save_pretrained(os.path.join(args.out, "text_encoder"))
    print("wrote", args.out, flush=True)


if __name__ == "__main__":
    main()

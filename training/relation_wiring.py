#!/usr/bin/env python3
"""Experiment (models/lumen-tiny/README.md): hand-wires a left/right circuit into the UNet's
cross-attention, to test whether routing is what the model lacks. For each chosen `attn2`:
query += a·u·(x-position readout of the query's input), key += b·u·(relation-role readout of the
text token), u one direction of head 0, so that the score gains `scale`·x·r: tokens after
"left of" (r = +1) are attended from the right (x > 0), after "right of" (r = −1) from the left.
Both readouts are ridge regressions: r on the text encoder's outputs (+1 / −1 from the relation
word on, 0 elsewhere; it needs an encoder that carries the word, relation_encoder.py), x on the
query inputs for noise at t = 999, 874, 749. No training; writes one model folder per scale.

    python training/relation_wiring.py --model ENC --shards S --prompts P.jsonl --out /tmp/wired --scales 8,16
"""
import argparse
import json
import os
import random
import shutil
import sys

import numpy as np
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shards import read_shard, ready_shards  # noqa: E402
from relation_encoder import relation_targets  # noqa: E402
from train import MAX_TOKENS, phrasings  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, help="model folder (its text encoder should carry the relation)")
ap.add_argument("--shards", required=True, help="training shards: captions for the role readout")
ap.add_argument("--prompts", required=True, help="JSON Lines prompts (lumen eval --write-prompts) of the position task")
ap.add_argument("--out", required=True, help="prefix of the written folders: OUT-SCALE")
ap.add_argument("--scales", default="8,16", help="comma-separated score gains; negative wires it backwards")
ap.add_argument("--layers", default="down_blocks.2,mid_block,up_blocks.0", help="module-name prefixes whose attn2 get wired")
args = ap.parse_args()
M, OUT = args.model, args.out
scales = [float(s) for s in args.scales.split(",")]
layers = args.layers.split(",")
torch.manual_seed(0); random.seed(0)
unet = UNet2DConditionModel.from_pretrained(M + "/unet").float().eval()
text = CLIPTextModel.from_pretrained(M + "/text_encoder").float().eval()
tok = CLIPTokenizer.from_pretrained(M + "/tokenizer")
# --- captions and per-token role targets: +1 / −1 from the relation word on (relation_encoder's), else 0
caps = []
for sh in ready_shards(args.shards):
    for scene in read_shard(sh, 32)[1][:700]:
        caps += random.sample(phrasings(scene, sizeless=True, plain=True), 3)
caps += [""] * 40
random.shuffle(caps)
ids, sign, start = relation_targets(tok, caps)
Y = ((torch.arange(MAX_TOKENS)[None, :] >= start[:, None]).float() * sign[:, None]).numpy()
with torch.no_grad():
    E = torch.cat([text(ids[i:i + 128]).last_hidden_state for i in range(0, len(caps), 128)]).numpy()
N = len(E); tr = slice(0, N * 3 // 4); te = slice(N * 3 // 4, N)
def ridge(X, y, lam):
    mu = X.mean(0); A = X - mu
    w = np.linalg.solve(A.T @ A + lam * np.eye(X.shape[1]), A.T @ (y - y.mean()))
    return w, y.mean() - mu @ w
wr, cr = ridge(E[tr].reshape(-1, 256), Y[tr].reshape(-1), 1.0)
P = E[te].reshape(-1, 256) @ wr + cr; T = Y[te].reshape(-1)
for v in (1, 0, -1):
    sel = T == v; print(f"role readout on held-out tokens, target {v:+d}: mean {P[sel].mean():+.3f} sd {P[sel].std():.3f} n {sel.sum()}")
# --- x readout at each wired attn2's query input
targets = [(n, m) for n, m in unet.named_modules() if n.endswith("attn2") and any(n.startswith(l) for l in layers)]
grab = {}
hooks = [m.register_forward_pre_hook(lambda mod, a, k, n=n: grab.setdefault(n, []).append(a[0].detach()), with_kwargs=True) for n, m in targets]
pos = [p["prompt"] for p in map(json.loads, open(args.prompts)) if p["task"] == "position"]
with torch.no_grad():
    ids = torch.tensor(tok(pos[:48], padding="max_length", max_length=MAX_TOKENS).input_ids)
    ctx = text(ids).last_hidden_state
    for t in (999, 874, 749):
        unet(torch.randn(48, 3, 32, 32), torch.full((48,), t), encoder_hidden_states=ctx)
for h in hooks: h.remove()
wx = {}
for n, m in targets:
    H = torch.cat(grab[n]).numpy(); B, L, C = H.shape; s = int(L ** 0.5)
    xs = np.tile(np.linspace(-1, 1, s), s)
    Xtr, Xte = H[:B // 2].reshape(-1, C), H[B // 2:].reshape(-1, C)
    w, c = ridge(Xtr, np.tile(xs, B // 2), 1.0)
    p = Xte @ w + c; yt = np.tile(xs, B - B // 2)
    print(f"{n}: x readout R² {1 - ((p - yt) ** 2).sum() / ((yt - yt.mean()) ** 2).sum():.3f}")
    # u: the head-0 direction along which existing queries and keys vary least
    D = C // m.heads
    q0 = (torch.from_numpy(Xtr) @ m.to_q.weight.T)[:, :D]
    k0 = (torch.from_numpy(E[tr].reshape(-1, 256)) @ m.to_k.weight.T)[:, :D]
    cov = torch.cov(q0.T) / torch.cov(q0.T).trace() + torch.cov(k0.T) / torch.cov(k0.T).trace()
    u = torch.linalg.eigh(cov).eigenvectors[:, 0]
    wx[n] = (torch.from_numpy(w).float(), u, D)
base = {n: (m.to_q.weight.clone(), m.to_k.weight.clone()) for n, m in targets}
for s in scales:
    for n, m in targets:
        w, u, D = wx[n]
        a = (abs(s) / m.scale) ** 0.5; b = a if s >= 0 else -a  # score term = scale·a·b·x·r = s·x·r
        m.to_q.weight.data = base[n][0].clone(); m.to_k.weight.data = base[n][1].clone()
        m.to_q.weight.data[:D] += a * torch.outer(u, w)
        m.to_k.weight.data[:D] += b * torch.outer(u, torch.from_numpy(wr).float())
    o = f"{OUT}-{s:g}"
    shutil.copytree(M, o, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.png", "training_log.json"))
    unet.half().save_pretrained(o + "/unet"); unet.float()
    cfg = json.load(open(o + "/unet/config.json")); cfg.pop("_name_or_path", None); json.dump(cfg, open(o + "/unet/config.json", "w"), indent=2)
    print("wrote", o)

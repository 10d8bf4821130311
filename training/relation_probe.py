#!/usr/bin/env python3
"""How much a model's text encoder output moves when one word of a prompt changes.

Left/right position is the task lumen-tiny has not learned (models/lumen-tiny/README.md): with the
same seed, "X to the left of Y" and "X to the right of Y" give the same picture. This probe shows
where that starts: it encodes a two-object prompt and variants that change one word (the relation,
a colour, the biome) and prints the mean relative change of the encoder's 64 output vectors —
what the UNet's cross-attention reads. A relation word that moves the output far less than a
colour word cannot steer the layout, whatever the UNet learns; a training run aimed at position
should watch this number rise.

The second table asks the same of the UNet: the mean relative change of its predicted picture
(x0, from the v-prediction) for the same noise at a high timestep — where the layout is decided —
when one word of the prompt changes. An encoder that carries the relation (`relation_encoder.py`)
is not enough: if the UNet's left → right column stays near 0, the same seed still gives the same
layout for both relations.

    python training/relation_probe.py models/lumen-tiny [other model folders …]
"""
import sys

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

BASE = "a photo of a large red metal sphere to the left of a large blue rubber cube on grass at noon"
VARIANTS = {"left → right": ("left", "right"), "red → green": ("red", "green"),
            "blue → yellow": ("blue", "yellow"), "grass → snow": ("grass", "snow")}
UNET_TIMESTEPS = (999, 800)


@torch.no_grad()
def probe(folder):
    tok = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").float().eval()

    def encode(prompt):
        ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
        return text(ids).last_hidden_state[0]

    def change(new, ref, dims):
        """Mean relative change of `new` against `ref`, vectors taken over `dims`."""
        return float(((new - ref).flatten(dims).norm(dim=-1) / ref.flatten(dims).norm(dim=-1)).mean())

    # Each prompt is encoded once; both tables reuse the encodings.
    base = encode(BASE)
    encoded = {name: encode(BASE.replace(a, b)) for name, (a, b) in VARIANTS.items()}
    text_row = {name: change(e, base, 1) for name, e in encoded.items()}
    # The UNet: predicted x0 for the same 8 noise pictures at each probed timestep, base vs. variant.
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").float().eval()
    alphas = DDPMScheduler.from_pretrained(folder, subfolder="scheduler").alphas_cumprod
    size = unet.config.sample_size
    noise = torch.randn(8, unet.config.in_channels, size, size, generator=torch.Generator().manual_seed(0))
    unet_rows = {}
    for t in UNET_TIMESTEPS:
        a = alphas[t]

        def x0(ctx):
            v = unet(noise, torch.full((len(noise),), t), encoder_hidden_states=ctx.expand(len(noise), -1, -1)).sample
            return a.sqrt() * noise - (1 - a).sqrt() * v

        ref = x0(base)
        unet_rows[t] = {name: change(x0(e), ref, 1) for name, e in encoded.items()}
    return text_row, unet_rows


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: relation_probe.py MODEL_FOLDER [MODEL_FOLDER …]")
    rows = {folder: probe(folder) for folder in sys.argv[1:]}
    header = f"{'model':40s}" + "".join(f"{n:>16s}" for n in VARIANTS)
    print("mean relative change of the text encoder's output when one word changes")
    print(header)
    for folder, (text_row, _) in rows.items():
        print(f"{folder:40s}" + "".join(f"{text_row[n]:16.3f}" for n in VARIANTS))
    for t in UNET_TIMESTEPS:
        print(f"\nmean relative change of the UNet's predicted picture (x0) at t = {t}, same noise (8 samples)")
        print(header)
        for folder, (_, unet_rows) in rows.items():
            print(f"{folder:40s}" + "".join(f"{unet_rows[t][n]:16.3f}" for n in VARIANTS))

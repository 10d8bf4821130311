#!/usr/bin/env python3
"""How much a model's text encoder output moves when one word of a prompt changes.

Left/right position is the task lumen-tiny has not learned (models/lumen-tiny/README.md): with the
same seed, "X to the left of Y" and "X to the right of Y" give the same picture. This probe shows
where that starts: it encodes a two-object prompt and variants that change one word (the relation,
a colour, the biome) and prints the mean relative change of the encoder's 64 output vectors —
what the UNet's cross-attention reads. A relation word that moves the output far less than a
colour word cannot steer the layout, whatever the UNet learns; a training run aimed at position
should watch this number rise.

    python training/relation_probe.py models/lumen-tiny [other model folders …]
"""
import sys

import torch
from transformers import CLIPTextModel, CLIPTokenizer

BASE = "a photo of a large red metal sphere to the left of a large blue rubber cube on grass at noon"
VARIANTS = {"left → right": ("left", "right"), "red → green": ("red", "green"),
            "blue → yellow": ("blue", "yellow"), "grass → snow": ("grass", "snow")}


@torch.no_grad()
def probe(folder):
    tok = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").float().eval()

    def encode(prompt):
        ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
        return text(ids).last_hidden_state[0]

    base = encode(BASE)
    return {name: float(((encode(BASE.replace(a, b)) - base).norm(dim=-1) / base.norm(dim=-1)).mean())
            for name, (a, b) in VARIANTS.items()}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: relation_probe.py MODEL_FOLDER [MODEL_FOLDER …]")
    print("mean relative change of the text encoder's output when one word changes")
    print(f"{'model':40s}" + "".join(f"{n:>16s}" for n in VARIANTS))
    for folder in sys.argv[1:]:
        row = probe(folder)
        print(f"{folder:40s}" + "".join(f"{row[n]:16.3f}" for n in VARIANTS))

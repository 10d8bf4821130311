#!/usr/bin/env python3
"""Packs a `lumen scenes render` folder into one training shard (see `shards.py`).

    python training/pack.py data/train data/shards/train-000
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def main(src, prefix):
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    images, scenes = [], []
    with open(f"{src}/scenes.jsonl") as f:
        for line in f:
            row = json.loads(line)
            images.append(np.asarray(Image.open(f"{src}/{row['file']}").convert("RGB")))
            scenes.append(row["scene"])
    np.stack(images).tofile(prefix + ".u8")
    with open(prefix + ".jsonl", "w") as f:
        for s in scenes:
            f.write(json.dumps(s, sort_keys=True) + "\n")
    open(prefix + ".done", "w").close()
    print(len(images), "pictures packed into", prefix)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

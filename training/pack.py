#!/usr/bin/env python3
"""Packs a `lumen scenes render` folder into one .npz (uint8 images + captions JSON) for training."""
import json
import sys

import numpy as np
from PIL import Image


def main(src, dst):
    images, captions = [], []
    with open(f"{src}/scenes.jsonl") as f:
        for line in f:
            row = json.loads(line)
            images.append(np.asarray(Image.open(f"{src}/{row['file']}").convert("RGB")))
            captions.append(row["captions"])
    np.savez_compressed(dst, images=np.stack(images), captions=json.dumps(captions))
    print(len(images), "pictures packed into", dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Scene-studio renders for training, as shards: `NAME.u8` (N×S×S×3 sRGB bytes) + `NAME.jsonl`
(one scene per line, as `lumen scenes render` writes in `scenes.jsonl`). `pack.py` turns a rendered
folder into the same form; a renderer can keep adding shards while training runs."""
import glob
import json
import os

import numpy as np

COLORS = ["red", "green", "blue", "yellow", "purple", "cyan", "orange", "white", "gray", "brown"]
SHAPES = ["sphere", "cube", "cylinder", "cone", "torus"]
BIOMES = ["grass", "desert", "snow", "beach", "lake", "forest", "mountains"]
TIMES = ["noon", "golden hour", "sunset", "overcast", "night"]
STYLES = ["photo", "concept art", "watercolor", "pixel art", "pencil sketch"]
SLOTS = 5


def read_shard(prefix, size):
    """(uint8 images N×S×S×3, list of scene dicts) for one complete shard."""
    with open(prefix + ".jsonl") as f:
        scenes = [json.loads(line) for line in f if line.strip()]
    images = np.fromfile(prefix + ".u8", dtype=np.uint8).reshape(-1, size, size, 3)
    assert len(images) == len(scenes), prefix
    return images, scenes


def ready_shards(folder, pattern="train-*"):
    """Shard prefixes whose `.done` marker exists (the renderer writes it last)."""
    return sorted(p[:-5] for p in glob.glob(os.path.join(folder, pattern + ".done")))


def labels(scene):
    """Checker targets: object count, biome, time of day, style, and up to 5 visible objects
    ordered left to right by pixel centroid, each (shape, color) with index len(...) meaning none."""
    objs = sorted((o for o in scene["objects"] if o["pixelCount"] > 0), key=lambda o: o["pixelCenter"][0])
    shape = [SHAPES.index(o["shape"]) for o in objs][:SLOTS]
    color = [COLORS.index(o["color"]) for o in objs][:SLOTS]
    shape += [len(SHAPES)] * (SLOTS - len(shape))
    color += [len(COLORS)] * (SLOTS - len(color))
    return [len(objs), BIOMES.index(scene["biome"]), TIMES.index(scene["timeOfDay"]), STYLES.index(scene["style"])] + shape + color

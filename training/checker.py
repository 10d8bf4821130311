"""The scene checker: a small CNN trained on scene-studio renders that reads back what a picture
shows (object count, biome, time of day, style, and up to five objects left to right with shape
and colour). `lumen eval` runs it in Swift (`SceneChecker`) to score generated pictures
GenEval-style; module names here are the weight names there."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shards import BIOMES, COLORS, SHAPES, SLOTS, STYLES, TIMES

HEADS = [("count", SLOTS + 1), ("biome", len(BIOMES)), ("time_of_day", len(TIMES)), ("style", len(STYLES))] + \
        [(f"slot{i}_shape", len(SHAPES) + 1) for i in range(SLOTS)] + [(f"slot{i}_color", len(COLORS) + 1) for i in range(SLOTS)]


class CheckerBlock(nn.Module):
    """Stride-2 convolution, then a residual 3×3 convolution; GroupNorm + SiLU after each."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout)

    def forward(self, x):
        h = F.silu(self.norm1(self.conv1(x)))
        return h + F.silu(self.norm2(self.conv2(h)))


class SceneChecker(nn.Module):
    def __init__(self, image_size=64, block_out_channels=(32, 64, 128, 192, 256), hidden_size=512, norm_num_groups=8):
        super().__init__()
        self.config = dict(_class_name="SceneChecker", image_size=image_size, block_out_channels=list(block_out_channels),
                           hidden_size=hidden_size, norm_num_groups=norm_num_groups, slots=SLOTS,
                           heads=[[n, k] for n, k in HEADS],
                           labels=dict(shape=SHAPES + ["none"], color=COLORS + ["none"], biome=BIOMES, time_of_day=TIMES,
                                       style=STYLES, count=[str(i) for i in range(SLOTS + 1)]))
        c = block_out_channels
        self.conv_in = nn.Conv2d(3, c[0], 3, padding=1)
        self.blocks = nn.ModuleList([CheckerBlock(c[i], c[i + 1], norm_num_groups) for i in range(len(c) - 1)])
        side = image_size >> (len(c) - 1)
        self.features = nn.Linear(c[-1] * side * side, hidden_size)
        self.head = nn.Linear(hidden_size, sum(k for _, k in HEADS))

    def embed(self, x):
        """x: N×3×S×S in [-1, 1] → the hidden features (also used for the Fréchet distance)."""
        h = F.silu(self.conv_in(x))
        for b in self.blocks:
            h = b(h)
        return F.silu(self.features(h.flatten(1)))

    def forward(self, x):
        return self.head(self.embed(x))

    def loss(self, logits, targets):
        """Sum of cross-entropies over the heads; targets N×len(HEADS) class indices."""
        total, o = 0, 0
        for j, (_, k) in enumerate(HEADS):
            total = total + F.cross_entropy(logits[:, o:o + k].float(), targets[:, j])
            o += k
        return total

    def predict(self, logits):
        out, o = [], 0
        for _, k in HEADS:
            out.append(logits[:, o:o + k].argmax(1))
            o += k
        return torch.stack(out, 1)

#!/usr/bin/env python3
"""Writes models/clip-tokenizer/{vocab.json,merges.txt,tokenizer_config.json}: OpenAI CLIP's BPE
vocabulary (the one SD 1.x and 2.x use), rebuilt from `bpe_simple_vocab_16e6.txt.gz` as shipped in
the `open_clip_torch` package on PyPI, exactly as CLIP's SimpleTokenizer builds it. Single-file
checkpoints carry no tokenizer, so Lumen uses this one for them.

    pip download open_clip_torch --no-deps -d /tmp/oc && python tools/make_clip_tokenizer.py /tmp/oc/*.whl
"""
import gzip
import io
import json
import os
import sys
import zipfile

from clip_bpe import bytes_to_unicode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(wheel):
    with zipfile.ZipFile(wheel) as z:
        data = gzip.decompress(z.read("open_clip/bpe_simple_vocab_16e6.txt.gz")).decode("utf-8")
    merges = data.split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())  # CLIP's SimpleTokenizer layout
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out = os.path.join(ROOT, "models", "clip-tokenizer")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "pad_token": "<|endoftext|>", "bos_token": "<|startoftext|>",
                   "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, f, indent=2)
    print(len(vocab), "tokens written to", out)


if __name__ == "__main__":
    main(sys.argv[1])

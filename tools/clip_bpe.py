"""CLIP-format byte-level BPE helpers shared by the fixture, tokenizer and training scripts."""
import json
import os
import re


def bytes_to_unicode():
    """GPT-2/CLIP's map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn_merges(texts, merges_count):
    """Merges learned on `texts` (most frequent adjacent pair first, ties by the pair itself)."""
    enc = bytes_to_unicode()
    words = {}
    for t in texts:
        for w in re.findall(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+", t.lower()):
            words[w] = words.get(w, 0) + 1
    seqs = {}
    for w, n in words.items():
        sym = tuple(enc[b] for b in w.encode("utf-8"))
        sym = sym[:-1] + (sym[-1] + "</w>",)
        seqs[sym] = seqs.get(sym, 0) + n
    merges = []
    for _ in range(merges_count):
        pairs = {}
        for s, c in seqs.items():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = {}
        for s, c in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1]); i += 2
                else:
                    out.append(s[i]); i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        seqs = new
    return merges


def vocabulary(merges):
    """Vocabulary layout: the 256 byte symbols (in byte order), the same with </w>, the merged
    symbols, then the two special tokens. (OpenAI's own vocabulary orders the byte symbols
    printable-first; see make_clip_tokenizer.py.)"""
    enc = bytes_to_unicode()
    chars = [enc[b] for b in range(256)]
    vocab = {}
    for t in chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(t, len(vocab))
    return vocab


def write(path, merges, config=None):
    """Writes vocab.json, merges.txt and (optionally) tokenizer_config.json."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocabulary(merges), f, ensure_ascii=False)
    with open(os.path.join(path, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    if config is not None:
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=2)

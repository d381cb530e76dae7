#!/opt/qanchor/ref/bin/python
"""Peer for `qanchor bench tokenizers`: the Hugging Face `tokenizers` library on the same texts.

Reads a JSON list of texts, encodes it `--repeat` times with each tokenizer, single-threaded
(RAYON_NUM_THREADS=1, so `encode_batch` runs the Rust pipeline on one thread), and prints JSON:
{"bpe": {"load_seconds", "batch_seconds", "loop_seconds", "tokens", "checksum"}, "wordpiece": {...}, "tokenizers_version"}.
`batch` is `encode_batch` (Rust only); `loop` is one Python `encode` call per text (what a Python service pays).
`checksum` is the sum over texts of (index + 1) * sum(ids) mod 2^61, to compare ids with the Swift run.

Usage: tokenizers_peer.py --bpe BPE.json --wordpiece WP.json --texts TEXTS.json [--repeat N]
"""
import argparse
import json
import os
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def checksum(all_ids):
    total = 0
    for i, ids in enumerate(all_ids):
        total = (total + (i + 1) * sum(ids)) % (1 << 61)
    return total


def bench(path, texts, repeat):
    start = time.perf_counter()
    tok = Tokenizer.from_file(path)
    load = time.perf_counter() - start
    tok.encode_batch(texts[:100])  # warm up
    start = time.perf_counter()
    for _ in range(repeat):
        encs = tok.encode_batch(texts)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeat):
        loop_ids = [tok.encode(t).ids for t in texts]
    loop = time.perf_counter() - start
    ids = [e.ids for e in encs]
    assert ids == loop_ids
    return {"load_seconds": load, "batch_seconds": batch, "loop_seconds": loop, "tokens": sum(map(len, ids)) * repeat,
            "checksum": checksum(ids)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--wordpiece", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    out = {"tokenizers_version": tokenizers.__version__,
           "bpe": bench(args.bpe, texts, args.repeat),
           "wordpiece": bench(args.wordpiece, texts, args.repeat)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

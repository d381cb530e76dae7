#!/usr/bin/env python3
"""PyTorch eager peer of `qanchor bench model`: same shapes, same thread count, random weights, JSON on stdout.

    /opt/qanchor/ref/bin/python ops/bench/model_peer.py --model qwen2|bert [--dtype fp32|bf16] [--threads 2] [--repeat 3]

--dtype fp32 (default) is the reference the engine's fp32 path is compared with. --dtype bf16 converts the model with
`.to(torch.bfloat16)` and feeds bf16 embeddings (PyTorch's own CPU bf16 path: oneDNN / AVX512-BF16 matmuls, bf16
activations throughout), the peer of the engine's bf16 precision.

Qwen2 (Qwen2.5-0.5B shape, transformers Qwen2Model): prefill of --prefix positions from inputs_embeds with a
DynamicCache, then --suffixes suffixes of --suffix-length positions, each run on its own copy of the cached prefix
(the usual way to branch a cache in transformers). BERT (BERT-base shape, BertModel): --texts × --tokens ids.
Each timing is the best of --repeat runs after one warm-up run, like the Swift side.
"""
import argparse
import copy
import json
import resource
import time

import warnings

import torch
from transformers import BertConfig, BertModel, Qwen2Config, Qwen2Model

warnings.filterwarnings("ignore")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def best(repeat, fn):
    fn()
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def qwen_flops(c, rows, past):
    d, q, kv, f = c.hidden_size, c.hidden_size, c.num_key_value_heads * (c.hidden_size // c.num_attention_heads), c.intermediate_size
    weights = d * (q + 2 * kv) + q * d + 3 * d * f
    keys_seen = rows * past + rows * (rows + 1) // 2
    return c.num_hidden_layers * (2 * rows * weights + 4 * keys_seen * c.hidden_size)


def bench_qwen2(a):
    c = Qwen2Config(vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                    num_key_value_heads=2, intermediate_size=4864, max_position_embeddings=32768,
                    rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True, attn_implementation="sdpa")
    dtype = DTYPES[a.dtype]
    model = Qwen2Model(c).eval().to(dtype)
    g = torch.Generator().manual_seed(99)
    prefix = (0.05 * torch.randn(1, a.prefix, c.hidden_size, generator=g)).to(dtype)
    suffixes = [(0.05 * torch.randn(1, a.suffix_length, c.hidden_size, generator=g)).to(dtype) for _ in range(a.suffixes)]
    state = {}

    def prefill():
        state["cache"] = model(inputs_embeds=prefix, use_cache=True).past_key_values

    def run_suffixes():
        for s in suffixes:
            model(inputs_embeds=s, past_key_values=copy.deepcopy(state["cache"]), use_cache=True)

    with torch.inference_mode():
        prefill_s = best(a.repeat, prefill)
        suffix_s = best(a.repeat, run_suffixes)
    pf = qwen_flops(c, a.prefix, 0)
    sf = a.suffixes * qwen_flops(c, a.suffix_length, a.prefix)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return {
        "prefill": {"positions": a.prefix, "seconds": prefill_s, "tokens_per_second": a.prefix / prefill_s,
                    "gflop": pf / 1e9, "gflop_per_second": pf / prefill_s / 1e9},
        "suffixes": {"count": a.suffixes, "length": a.suffix_length, "seconds": suffix_s,
                     "tokens_per_second": a.suffixes * a.suffix_length / suffix_s,
                     "gflop": sf / 1e9, "gflop_per_second": sf / suffix_s / 1e9, "fraction_of_prefill": suffix_s / prefill_s},
        "weight_bytes": weight_bytes, "peak_rss_bytes": peak_rss(),
    }


def bench_bert(a):
    c = BertConfig(attn_implementation="sdpa")
    model = BertModel(c, add_pooling_layer=False).eval().to(DTYPES[a.dtype])
    g = torch.Generator().manual_seed(99)
    ids = torch.randint(1000, 29000, (a.texts, a.tokens), generator=g)
    ids[:, 0] = 101
    mask = torch.ones_like(ids)

    def encode():
        model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]

    with torch.inference_mode():
        s = best(a.repeat, encode)
    d, f, n, L = c.hidden_size, c.intermediate_size, a.texts * a.tokens, c.num_hidden_layers
    flops = L * (2 * n * (4 * d * d + 2 * d * f) + 4 * a.texts * a.tokens * a.tokens * d)
    return {
        "encode": {"texts": a.texts, "tokens_per_text": a.tokens, "seconds": s, "texts_per_second": a.texts / s,
                   "tokens_per_second": n / s, "gflop": flops / 1e9, "gflop_per_second": flops / s / 1e9},
        "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()), "peak_rss_bytes": peak_rss(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["qwen2", "bert"], default="qwen2")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--prefix", type=int, default=800)
    ap.add_argument("--suffixes", type=int, default=6)
    ap.add_argument("--suffix-length", type=int, default=16)
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(7)
    report = {"benchmark": "model", "engine": f"pytorch-eager-{a.dtype}", "dtype": a.dtype, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "repeat": a.repeat,
              "timing": "best of repeat, after one warm-up run"}
    report[a.model] = bench_qwen2(a) if a.model == "qwen2" else bench_bert(a)
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()

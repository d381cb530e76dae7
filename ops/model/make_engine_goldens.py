#!/usr/bin/env python3
"""Build the tiny deterministic models and golden outputs the Swift engine is tested against.

Run with the reference interpreter (PyTorch + transformers; CI never needs it):

    /opt/qanchor/ref/bin/python ops/model/make_engine_goldens.py [--out testdata/engine]

It writes, under the output directory:

  bert-tiny/        config.json + model.safetensors   BertModel, fp32 weights
  bert-tiny-f16/    config.json + model.safetensors   same architecture, fp16 weights
  qwen2-tiny/       config.json + model.safetensors   Qwen2ForCausalLM (GQA, untied lm_head), fp32, rope_theta 1e4
  qwen2-tiny-bf16/  config.json + model.safetensors   tied embeddings, bf16 weights, rope_theta 1e6
  bert_goldens.json / bert_goldens.safetensors        [CLS] vectors of a batch of id sequences (both models)
  qwen2_goldens.json / qwen2_goldens.safetensors      final-norm hidden states of sequences fed by embeddings

Every reference output is computed in fp32 by transformers' own BertModel / Qwen2Model (eager attention)
from exactly the weights stored in the files (fp16/bf16 weights are upcast to fp32 first, as the engine does).
Inputs are given as lists of items: {"id": n} (a row of the embedding table) or {"vec": i} (row i of the
tensor "vectors"). Everything is seeded: running the script twice gives identical files.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, Qwen2Config, Qwen2ForCausalLM

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


def perturb(model, seed):
    """Randomise norms and biases too (their defaults are 1 and 0, which would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def round_trip(model, dtype):
    """Make the fp32 model hold exactly the values a `dtype` file stores."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def save_model(model, out_dir, dtype):
    os.makedirs(out_dir, exist_ok=True)
    model.config.save_pretrained(out_dir)
    state = {}
    for k, v in model.state_dict().items():
        state[k] = v.detach().to(dtype).contiguous()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


# ----------------------------------------------------------------------------------------------- BERT

def bert_config():
    return BertConfig(vocab_size=301, hidden_size=72, num_hidden_layers=3, num_attention_heads=6,
                      intermediate_size=200, max_position_embeddings=96, type_vocab_size=2,
                      hidden_act="gelu", layer_norm_eps=1e-12, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, attn_implementation="eager")


def bert_cls(model, seqs):
    """[CLS] (position 0) of the last hidden layer, batched with right padding and an attention mask."""
    n = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    return out[:, 0, :].contiguous()


def make_bert(out):
    torch.manual_seed(1)
    cfg = bert_config()
    g = torch.Generator().manual_seed(11)
    lengths = [1, 5, 17, 32, 9, 60, 2]
    seqs = [[2] + torch.randint(4, cfg.vocab_size, (n - 1,), generator=g).tolist() for n in lengths]
    tensors, cases = {}, []
    for name, dtype, seed in [("bert-tiny", torch.float32, 101), ("bert-tiny-f16", torch.float16, 102)]:
        model = BertModel(cfg, add_pooling_layer=True).eval()
        perturb(model, seed)
        round_trip(model, dtype)
        save_model(model, os.path.join(out, name), dtype)
        key = name.replace("-", "_") + ".cls"
        tensors[key] = bert_cls(model, seqs)
        cases.append({"model": name, "cls": key})
    save_file(tensors, os.path.join(out, "bert_goldens.safetensors"))
    with open(os.path.join(out, "bert_goldens.json"), "w") as f:
        json.dump({"sequences": seqs, "cases": cases}, f, indent=1)


# ---------------------------------------------------------------------------------------------- Qwen2

def qwen_config(theta, tie):
    return Qwen2Config(vocab_size=397, hidden_size=72, num_hidden_layers=3, num_attention_heads=6,
                       num_key_value_heads=2, intermediate_size=200, max_position_embeddings=2048,
                       rms_norm_eps=1e-6, rope_theta=theta, tie_word_embeddings=tie,
                       hidden_act="silu", attention_dropout=0.0, use_sliding_window=False,
                       attn_implementation="eager")


class Embedder:
    """Builds input embeddings from items and remembers the arbitrary vectors it hands out."""

    def __init__(self, table, seed):
        self.table = table
        self.vectors = []
        self.g = torch.Generator().manual_seed(seed)

    def items(self, n, vec_every=0, vocab=397):
        out = []
        for i in range(n):
            if vec_every and i % vec_every == vec_every - 1:
                self.vectors.append(0.5 * torch.randn(self.table.shape[1], generator=self.g))
                out.append({"vec": len(self.vectors) - 1})
            else:
                out.append({"id": int(torch.randint(0, vocab, (1,), generator=self.g))})
        return out

    def embed(self, items):
        rows = [self.table[it["id"]] if "id" in it else self.vectors[it["vec"]] for it in items]
        return torch.stack(rows)[None]


def qwen_hidden(model, emb):
    """Final-norm hidden states of Qwen2Model for one sequence given as embeddings [1, T, d]."""
    with torch.no_grad():
        return model.model(inputs_embeds=emb).last_hidden_state[0].contiguous()


def make_qwen(out):
    tensors, cases = {}, []
    for name, dtype, theta, tie, seed in [("qwen2-tiny", torch.float32, 1e4, False, 201),
                                          ("qwen2-tiny-bf16", torch.bfloat16, 1e6, True, 202)]:
        torch.manual_seed(2)
        model = Qwen2ForCausalLM(qwen_config(theta, tie)).eval()
        perturb(model, seed)
        if tie:
            model.lm_head.weight = model.model.embed_tokens.weight
        round_trip(model, dtype)
        save_model(model, os.path.join(out, name), dtype)
        emb = Embedder(model.model.embed_tokens.weight.detach(), seed + 1000)
        p = name.replace("-", "_")

        # 1. One long sequence (positions past 800 check RoPE), hidden states at every position.
        long_items = emb.items(850 if dtype == torch.float32 else 120, vec_every=5)
        tensors[p + ".long.hidden"] = qwen_hidden(model, emb.embed(long_items))

        # 2. Shared preamble + two user prefixes + three suffixes each; reference = one full pass per sequence.
        preamble = emb.items(9)
        users = [emb.items(31, vec_every=4), emb.items(12, vec_every=3)]
        suffixes = [emb.items(5, vec_every=2), emb.items(7), emb.items(3, vec_every=3)]
        full = []
        for u, user in enumerate(users):
            for s, suffix in enumerate(suffixes):
                key = f"{p}.user{u}.suffix{s}.hidden"
                tensors[key] = qwen_hidden(model, emb.embed(preamble + user + suffix))
                full.append({"user": u, "suffix": s, "hidden": key})
        tensors[p + ".vectors"] = torch.stack(emb.vectors).contiguous()
        cases.append({"model": name, "vectors": p + ".vectors",
                      "long": {"items": long_items, "hidden": p + ".long.hidden"},
                      "preamble": preamble, "users": users, "suffixes": suffixes, "full": full})
    save_file(tensors, os.path.join(out, "qwen2_goldens.safetensors"))
    with open(os.path.join(out, "qwen2_goldens.json"), "w") as f:
        json.dump({"cases": cases}, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "engine"))
    args = ap.parse_args()
    make_bert(args.out)
    make_qwen(args.out)
    print("wrote goldens to", os.path.abspath(args.out))


if __name__ == "__main__":
    main()

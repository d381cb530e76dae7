#!/opt/qanchor/ref/bin/python
"""Convert the authors' Q-Anchor checkpoint into a model bundle (format v1, docs/bundle.md).

Inputs (github.com/JhCircle/Q-Anchor; names as their code writes them):
  --checkpoint model_E_S_M.pth   torch.save'd dict written by utils.save_model:
      lora_state_dict                  LLM LoRA only, peft names: model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}.default.weight
      model_state_low_dim_left         SimpleMLP: fc_seq.0.{weight,bias} (896->512), fc_seq.2.{weight,bias} (512->128)
      modal_encoder_list_state_dict    nn.ModuleDict after peft injection:
          {bill,minipro,spm,app,sousuo}.text_model.sentence_model.<BertModel key>   (query/key/value/attention.output.dense/
                                        output.dense as base_layer.{weight,bias} + lora_{A,B}.default.weight)
          {bill,minipro,spm,app,sousuo}.llm_adapter.{ln_q,mlp.0,mlp.2}.{weight,bias}
          tabular.linear.{weight,bias} (F->896), tabular.linear_for_prepose_pooling.{weight,bias} (F->768)
          user_adapter.llm_adapter.*, modal_adapter.llm_adapter.*
  --qwen DIR    the base Qwen2.5-0.5B-Instruct (config.json, model.safetensors or sharded + index, tokenizer.json)
  --gte DIR     the base gte-base-zh (config.json, tokenizer.json or vocab.txt); its weights come from the checkpoint

Output --out DIR: a bundle whose backbone is the base Qwen2 with the LoRA merged (W + (alpha/r) B A, in fp32),
whose tokenizer has the 19 Q-Anchor tokens at the ids the authors' code hard-wires (151665-151683: six
<|*_pad|> via add_tokens, then twelve start/end tokens and <|user_emb|> via add_special_tokens), one encoder
directory per text modality (gte with its LoRA merged), heads.safetensors, and the default layout: the Qwen
chat template's system turn, the paper's Fig. 3 preamble, the seven summary tokens right before the first block
(<|bill_start|>, where the authors splice them), the blocks in token-id order, `Query: {query}` as the suffix.

Every tensor the converter reads is checked by name and shape; a mismatch names the key, the expected and the
found shape. Usage:
  convert_checkpoint.py --checkpoint ckpt.pth --qwen Qwen2.5-0.5B-Instruct --gte gte-base-zh --out bundle \\
      [--lora-r 64 --lora-alpha 32 --encoder-lora-r 64 --encoder-lora-alpha 32] [--scenarios scenarios.json]
"""
import argparse
import json
import os
import re
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qanchor_reference as ref  # noqa: E402

# The authors' modality keys (multimode_config.py), the bundle's modality names (docs/bundle.md) and their defaults.
AUTHORS_MODALITIES = {
    # key: (bundle name, K_m = *_item_num, max_text_tokens = *_text_max_length)
    "bill": ("bill", 250, 50),
    "minipro": ("mini", 150, 17),
    "spm": ("spm", 150, 20),
    "sousuo": ("search", 10, 12),
    "app": ("app", 100, 15),
    "tabular": ("tabular", 50, None),
}
TOKEN_ORDER = ["bill", "minipro", "spm", "sousuo", "app", "tabular"]      # the ids' order (infer_ddp.py)
PAD_TOKENS = [f"<|{m}_pad|>" for m in TOKEN_ORDER]                          # add_tokens -> 151665..151670
SPECIAL_TOKENS = [t for m in TOKEN_ORDER for t in (f"<|{m}_start|>", f"<|{m}_end|>")] + ["<|user_emb|>"]
FIRST_ID = 151665
DEFAULT_USED_MODALITIES = "bill,app,minipro,sousuo,spm,tabular"            # params.py --used_modal_list
LLM_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PREAMBLE = ("The following are heterogeneous user data from multiple sources, including PayBill transactions, "
            "Mini Program interaction logs, Super Position Model paths, App list, homepage search queries, and "
            "structured tabular features:\nHierarchical User Tokens: ")
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
DEFAULT_QUERY = "What are the user's most likely actions in the next period?"
LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.(?P<adapter>[^.]+))?\.weight$")


class ConversionError(Exception):
    pass


def expect_shape(state, key, shape, where):
    if key not in state:
        raise ConversionError(f"{where}: missing tensor '{key}' (expected shape {list(shape)})")
    found = list(state[key].shape)
    if found != list(shape):
        raise ConversionError(f"{where}: tensor '{key}' has shape {found}, expected {list(shape)}")
    return state[key]


def merge_lora(base, lora, alpha, rank, where, adapter="default"):
    """base: {module: weight}; lora: raw LoRA state. Returns merged copies; every LoRA pair must hit a base weight."""
    pairs = {}
    for key, value in lora.items():
        m = LORA_KEY.match(key)
        if not m:
            raise ConversionError(f"{where}: '{key}' is not a LoRA tensor name (…lora_A/B[.adapter].weight)")
        if (m.group("adapter") or adapter) != adapter:
            continue
        pairs.setdefault(m.group("module"), {})[m.group("ab")] = value.float()
    merged = {}
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ConversionError(f"{where}: module '{module}' has lora_{''.join(ab)} but not both lora_A and lora_B")
        wkey = f"{module}.weight"
        if wkey not in base:
            raise ConversionError(f"{where}: LoRA for '{module}' but the base has no '{wkey}'")
        w = base[wkey].float()
        a, b = ab["A"], ab["B"]
        if a.shape[0] != rank or b.shape[1] != rank or a.shape[1] != w.shape[1] or b.shape[0] != w.shape[0]:
            raise ConversionError(f"{where}: '{module}': lora_A {list(a.shape)} and lora_B {list(b.shape)} do not fit "
                                  f"weight {list(w.shape)} with rank {rank}")
        merged[wkey] = w + (alpha / rank) * (b @ a)
    return merged


def copy_config(src, dst, dtype_name):
    """config.json as it is, but with the dtype of the weights actually written."""
    with open(src, encoding="utf-8") as f:
        cfg = json.load(f)
    for key in ("torch_dtype", "dtype"):
        if key in cfg or key == "torch_dtype":
            cfg[key] = dtype_name
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


def read_safetensors_dir(directory):
    single = os.path.join(directory, "model.safetensors")
    if os.path.isfile(single):
        return load_file(single)
    index = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.isfile(index):
        raise ConversionError(f"{directory}: neither model.safetensors nor model.safetensors.index.json")
    with open(index) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    state = {}
    for shard in shards:
        state.update(load_file(os.path.join(directory, shard)))
    return state


def convert_tokenizer(qwen_dir, out_path):
    tok = Tokenizer.from_file(os.path.join(qwen_dir, "tokenizer.json"))
    missing = [t for t in PAD_TOKENS + SPECIAL_TOKENS if tok.token_to_id(t) is None]
    if missing:
        if len(missing) != len(PAD_TOKENS + SPECIAL_TOKENS):
            raise ConversionError(f"{qwen_dir}/tokenizer.json: has some Q-Anchor tokens but not {missing}")
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PAD_TOKENS])
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    for i, t in enumerate(PAD_TOKENS + SPECIAL_TOKENS):
        if tok.token_to_id(t) != FIRST_ID + i:
            raise ConversionError(f"{qwen_dir}/tokenizer.json: '{t}' got id {tok.token_to_id(t)}, the authors' code "
                                  f"expects {FIRST_ID + i} (is this the Qwen2.5 tokenizer?)")
    tok.save(out_path)
    return tok


def gte_tokenizer(gte_dir, out_path):
    src = os.path.join(gte_dir, "tokenizer.json")
    if os.path.isfile(src):
        shutil.copyfile(src, out_path)
        return
    vocab = os.path.join(gte_dir, "vocab.txt")
    if not os.path.isfile(vocab):
        raise ConversionError(f"{gte_dir}: neither tokenizer.json nor vocab.txt")
    from tokenizers.implementations import BertWordPieceTokenizer
    lower = True
    cfg = os.path.join(gte_dir, "tokenizer_config.json")
    if os.path.isfile(cfg):
        with open(cfg) as f:
            lower = json.load(f).get("do_lower_case", True)
    BertWordPieceTokenizer(vocab, lowercase=lower).save(out_path)


def convert_encoder(state, key, gte_cfg, alpha, rank, out_dir, gte_dir, dtype=torch.float32):
    """One modality's BertModel from `{key}.text_model.sentence_model.*`, LoRA merged, pooler dropped."""
    prefix = f"{key}.text_model.sentence_model."
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not sub:
        raise ConversionError(f"modal_encoder_list_state_dict: no tensors under '{prefix}'")
    lora = {k: v for k, v in sub.items() if ".lora_" in k}
    base = {}
    for k, v in sub.items():
        if ".lora_" in k or k.startswith("pooler.") or k.endswith("position_ids"):
            continue
        base[k.replace(".base_layer.", ".")] = v.float()
    base.update(merge_lora(base, lora, alpha, rank, f"modal_encoder_list_state_dict[{prefix}*]"))
    h, inter, L = gte_cfg["hidden_size"], gte_cfg["intermediate_size"], gte_cfg["num_hidden_layers"]
    where = f"modal_encoder_list_state_dict[{prefix}*]"
    expect_shape(base, "embeddings.word_embeddings.weight", (gte_cfg["vocab_size"], h), where)
    for i in range(L):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            expect_shape(base, p + name + ".weight", (h, h), where)
        expect_shape(base, p + "intermediate.dense.weight", (inter, h), where)
        expect_shape(base, p + "output.dense.weight", (h, inter), where)
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in sorted(base.items())},
              os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    copy_config(os.path.join(gte_dir, "config.json"), os.path.join(out_dir, "config.json"),
                str(dtype).replace("torch.", ""))
    gte_tokenizer(gte_dir, os.path.join(out_dir, "tokenizer.json"))


def adapter(state, src, dst, e, d, heads):
    where = "modal_encoder_list_state_dict"
    for s, t, shape in (("ln_q.weight", "norm.weight", (e,)), ("ln_q.bias", "norm.bias", (e,)),
                        ("mlp.0.weight", "fc1.weight", (e, e)), ("mlp.0.bias", "fc1.bias", (e,)),
                        ("mlp.2.weight", "fc2.weight", (d, e)), ("mlp.2.bias", "fc2.bias", (d,))):
        heads[f"{dst}.{t}"] = expect_shape(state, f"{src}.llm_adapter.{s}", shape, where).float()


def parse_overrides(text, what):
    out = {}
    for item in filter(None, (text or "").split(",")):
        k, _, v = item.partition("=")
        if k not in AUTHORS_MODALITIES or not v.isdigit() or int(v) <= 0:
            raise ConversionError(f"--{what}: expected key=positive integer with key in {list(AUTHORS_MODALITIES)}, "
                                  f"found {item!r}")
        out[k] = int(v)
    return out


def convert(args):
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    for key in ("lora_state_dict", "model_state_low_dim_left", "modal_encoder_list_state_dict"):
        if key not in ckpt:
            raise ConversionError(f"{args.checkpoint}: missing '{key}' (found {sorted(ckpt)})")
    with open(os.path.join(args.qwen, "config.json")) as f:
        qcfg = json.load(f)
    with open(os.path.join(args.gte, "config.json")) as f:
        gcfg = json.load(f)
    d, e = qcfg["hidden_size"], gcfg["hidden_size"]
    used = args.used_modalities.split(",")
    if sorted(used) != sorted(AUTHORS_MODALITIES):
        raise ConversionError(f"--used-modalities: expected a permutation of {list(AUTHORS_MODALITIES)}, found {used}")
    k_over = parse_overrides(args.max_events, "max-events")
    t_over = parse_overrides(args.max_text_tokens, "max-text-tokens")

    out = args.out
    if os.path.exists(out):
        if not args.force:
            raise ConversionError(f"{out}: exists (use --force to replace it)")
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "backbone"))

    # Backbone: base weights + merged LoRA; the rows of the added tokens are the base rows (never trained).
    base = {k: v for k, v in read_safetensors_dir(args.qwen).items() if k != "lm_head.weight"}
    lora = ckpt["lora_state_dict"]
    for k in lora:
        m = LORA_KEY.match(k)
        if not m or m.group("module").rsplit(".", 1)[-1] not in LLM_LORA_TARGETS:
            raise ConversionError(f"lora_state_dict: unexpected tensor '{k}' (targets: {', '.join(LLM_LORA_TARGETS)})")
    merged = merge_lora(base, lora, args.lora_alpha, args.lora_r, "lora_state_dict")
    state = {k: v.float() for k, v in base.items()}
    state.update(merged)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    expect_shape(state, "model.embed_tokens.weight", (qcfg["vocab_size"], d), "backbone")
    if qcfg["vocab_size"] <= FIRST_ID + len(PAD_TOKENS + SPECIAL_TOKENS) - 1:
        raise ConversionError(f"{args.qwen}/config.json: vocab_size {qcfg['vocab_size']} has no row for id "
                              f"{FIRST_ID + 18} (<|user_emb|>)")
    save_file({k: v.to(dtype).contiguous() for k, v in sorted(state.items())},
              os.path.join(out, "backbone", "model.safetensors"), metadata={"format": "pt"})
    copy_config(os.path.join(args.qwen, "config.json"), os.path.join(out, "backbone", "config.json"), args.dtype)
    convert_tokenizer(args.qwen, os.path.join(out, "backbone", "tokenizer.json"))

    # Encoders, adapters, tabular, projection.
    menc = ckpt["modal_encoder_list_state_dict"]
    heads = {}
    modalities = []
    for key in used:
        name, k_default, t_default = AUTHORS_MODALITIES[key]
        tokens = {"start_token": f"<|{key}_start|>", "end_token": f"<|{key}_end|>", "pad_token": f"<|{key}_pad|>"}
        if key == "tabular":
            w = menc.get("tabular.linear.weight")
            if w is None or w.dim() != 2 or w.shape[0] != d:
                raise ConversionError(f"modal_encoder_list_state_dict: 'tabular.linear.weight' expected [{d}, F], "
                                      f"found {None if w is None else list(w.shape)}")
            f = w.shape[1]
            where = "modal_encoder_list_state_dict"
            heads[f"tabular.{name}.slot.weight"] = expect_shape(menc, "tabular.linear.weight", (d, f), where).float()
            heads[f"tabular.{name}.slot.bias"] = expect_shape(menc, "tabular.linear.bias", (d,), where).float()
            heads[f"tabular.{name}.mean.weight"] = expect_shape(
                menc, "tabular.linear_for_prepose_pooling.weight", (e, f), where).float()
            heads[f"tabular.{name}.mean.bias"] = expect_shape(
                menc, "tabular.linear_for_prepose_pooling.bias", (e,), where).float()
            modalities.append({"name": name, "kind": "tabular", "features": f,
                               "slots": k_over.get(key, k_default), **tokens})
            continue
        enc_dir = f"encoders/{name}"
        convert_encoder(menc, key, gcfg, args.encoder_lora_alpha, args.encoder_lora_r,
                        os.path.join(out, *enc_dir.split("/")), args.gte, dtype)
        adapter(menc, key, f"adapters.event.{name}", e, d, heads)
        modalities.append({"name": name, "kind": "text", "max_events": k_over.get(key, k_default),
                           "max_text_tokens": t_over.get(key, t_default), "encoder": enc_dir, **tokens})
    adapter(menc, "modal_adapter", "adapters.modal", e, d, heads)
    adapter(menc, "user_adapter", "adapters.user", e, d, heads)
    proj = ckpt["model_state_low_dim_left"]
    if "fc_seq.0.weight" not in proj or "fc_seq.2.weight" not in proj:
        raise ConversionError(f"model_state_low_dim_left: expected fc_seq.0.* and fc_seq.2.*, found {sorted(proj)}")
    hidden = expect_shape(proj, "fc_seq.0.weight", (proj["fc_seq.0.weight"].shape[0], d), "model_state_low_dim_left")
    ph, po = hidden.shape[0], proj["fc_seq.2.weight"].shape[0]
    heads["projection.fc1.weight"] = hidden.float()
    heads["projection.fc1.bias"] = expect_shape(proj, "fc_seq.0.bias", (ph,), "model_state_low_dim_left").float()
    heads["projection.fc2.weight"] = expect_shape(proj, "fc_seq.2.weight", (po, ph), "model_state_low_dim_left").float()
    heads["projection.fc2.bias"] = expect_shape(proj, "fc_seq.2.bias", (po,), "model_state_low_dim_left").float()

    scenarios = [{"id": "default", "query": DEFAULT_QUERY}]
    if args.scenarios:
        with open(args.scenarios, encoding="utf-8") as fh:
            scenarios = []
            for s in json.load(fh):
                entry = {"id": s["id"], "query": s.get("query", "")}
                if s.get("soft_prompt") is not None:
                    t = torch.tensor(s["soft_prompt"], dtype=torch.float32)
                    if t.dim() != 2 or t.shape[1] != d:
                        raise ConversionError(f"{args.scenarios}: scenario '{s['id']}': soft_prompt is "
                                              f"{list(t.shape)}, expected [n, {d}]")
                    entry["soft_prompt"] = f"scenarios.{s['id']}.soft_prompt"
                    heads[entry["soft_prompt"]] = t
                if s.get("prototypes") is not None:
                    t = torch.tensor(s["prototypes"], dtype=torch.float32)
                    if t.dim() != 2 or t.shape[1] != po or len(s.get("labels", [])) != t.shape[0]:
                        raise ConversionError(f"{args.scenarios}: scenario '{s['id']}': prototypes {list(t.shape)} "
                                              f"need [K, {po}] and K labels")
                    entry.update(prototypes=f"scenarios.{s['id']}.prototypes", labels=s["labels"], tau=s["tau"])
                    heads[entry["prototypes"]] = t
                scenarios.append(entry)
    save_file(dict(sorted(heads.items())), os.path.join(out, ref.HEADS), metadata={"format": "pt"})

    layout = [
        {"kind": "special", "token": "<|im_start|>"},
        {"kind": "text", "text": f"system\n{args.system}"},
        {"kind": "special", "token": "<|im_end|>"},
        {"kind": "text", "text": "\n"},
        {"kind": "special", "token": "<|im_start|>"},
        {"kind": "text", "text": "user\n" + PREAMBLE},
        {"kind": "summary"},
        *({"kind": "modality", "modality": AUTHORS_MODALITIES[k][0]} for k in TOKEN_ORDER),
        {"kind": "text", "text": "\n"},
    ]
    manifest = {
        "format_version": ref.FORMAT_VERSION, "name": args.name, "version": args.version, "backbone": "backbone",
        "modalities": modalities, "window_days": args.window_days, "layout": layout,
        "suffix_template": "Query: {query}", "readout_token": "<|user_emb|>", "adapter_layer_norm_eps": 1e-6,
        "padding_visible": True, "projection": {"hidden": ph, "output": po}, "normalize": True,
        "text_tower": {"template": "{text}", "max_tokens": 200}, "scenarios": scenarios,
    }
    with open(os.path.join(out, ref.MANIFEST), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    return ref.fingerprint(out)


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--qwen", required=True, help="base Qwen2.5-0.5B-Instruct directory")
    ap.add_argument("--gte", required=True, help="base gte-base-zh directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--force", action="store_true", help="replace --out if it exists")
    ap.add_argument("--lora-r", type=int, default=64)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--encoder-lora-r", type=int, default=64)
    ap.add_argument("--encoder-lora-alpha", type=float, default=32)
    ap.add_argument("--used-modalities", default=DEFAULT_USED_MODALITIES,
                    help="the training run's --used_modal_list: the order of the modality summary tokens")
    ap.add_argument("--max-events", help="overrides of K_m / tabular slots, e.g. bill=100,tabular=50")
    ap.add_argument("--max-text-tokens", help="overrides of the GTE token limits, e.g. bill=64")
    ap.add_argument("--window-days", type=int, default=90)
    ap.add_argument("--system", default=QWEN_SYSTEM, help="the chat template's system message")
    ap.add_argument("--scenarios", help="JSON list of {id, query, soft_prompt?, prototypes?, labels?, tau?}")
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                    help="dtype of the merged backbone and encoder weights (the merge itself is done in fp32)")
    ap.add_argument("--name", default="q-anchor")
    ap.add_argument("--version", default="1")
    return ap


def main():
    args = parser().parse_args()
    try:
        fp = convert(args)
    except ConversionError as err:
        print(f"convert_checkpoint: {err}", file=sys.stderr)
        return 1
    ref.Bundle(args.out)  # loads and validates everything once
    print(f"{args.out}: {fp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/opt/qanchor/ref/bin/python
"""Build the tiny deterministic Q-Anchor test bundle, its test events and their goldens.

Writes (paths relative to the repository root):
  testdata/models/tiny/                 a bundle in format v1 (docs/bundle.md):
      qanchor.json                      six modalities (bill, app, mini, search, spm: text; tabular: F=7, 3 slots),
                                        3 scenarios (soft prompt + prototypes; plain query; empty query)
      backbone/                         tiny Qwen2 (hidden 48, 2 layers, 6 heads, 2 KV heads, FFN 88, vocab 1237)
                                        with testdata/tokenizers/bpe/tokenizer.json
      encoders/shared/                  tiny BERT used by bill and mini (wordpiece test tokenizer)
      encoders/{app,spm,search}/        one tiny BERT each (search: the cased wordpiece tokenizer; app stored in
                                        float16, spm in bfloat16, to exercise the conversions)
      heads.safetensors                 adapters, tabular linears, projection, soft prompt, prototypes
  testdata/events/users.jsonl           events in the input format of docs/daemon.md + "modality"
  testdata/events/bad-lines.jsonl       malformed lines mixed with good ones
  testdata/goldens/tiny/*.json[l]       computed by ops/model/qanchor_reference.py (see docs/bundle.md, "Goldens")

Weights come from numpy's PCG64 generator with fixed seeds and the config.json files list their keys explicitly, so
the files are byte-identical on every run. CI never runs this: outputs are committed.

Usage: /opt/qanchor/ref/bin/python ops/model/make_test_bundle.py [--root REPO]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, Qwen2Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qanchor_reference as ref  # noqa: E402

NOW = "2026-11-28T00:00:00Z"
SKEW_SECONDS = ref.DEFAULT_SKEW_SECONDS
D_MODEL = 48
E_DIM = 36
PROJ_HIDDEN = 60
PROJ_OUT = 128
TAB_F = 7

# Manifest order (the summary tokens follow it) = the authors' default --used_modal_list order; the layout's
# block order is the token-id order (bill first, as the authors' splice requires).
MODALITIES = [
    # name, kind, K_m, max_text_tokens, encoder dir, token stem
    ("bill", "text", 5, 16, "encoders/shared", "bill"),
    ("app", "text", 3, 8, "encoders/app", "app"),
    ("mini", "text", 4, 12, "encoders/shared", "minipro"),
    ("search", "text", 6, 10, "encoders/search", "sousuo"),
    ("spm", "text", 3, 12, "encoders/spm", "spm"),
]
BLOCK_ORDER = ["bill", "mini", "spm", "search", "app", "tabular"]
ENCODERS = {
    # dir: (tokenizer, layers, heads, intermediate, max positions, stored dtype: fp16/bf16 exercise conversion)
    "encoders/shared": ("wordpiece", 2, 4, 52, 40, torch.float32),
    "encoders/app": ("wordpiece", 1, 3, 44, 24, torch.float16),
    "encoders/search": ("wordpiece-cased", 2, 4, 52, 24, torch.float32),
    "encoders/spm": ("wordpiece", 1, 4, 60, 32, torch.bfloat16),
}
PREAMBLE = ("The following are heterogeneous user data from multiple sources, including PayBill transactions, "
            "Mini Program interaction logs, Super Position Model paths, App list, homepage search queries, and "
            "structured tabular features:\nHierarchical User Tokens: ")


def rng(seed):
    return np.random.Generator(np.random.PCG64(seed))


def fill(shape, name, g):
    """Deterministic values by parameter role: norms near 1, biases small, matrices ~ N(0, 1/fan_in)."""
    if name.endswith("norm.weight") or name.endswith("LayerNorm.weight") or name.endswith("layernorm.weight"):
        a = 1.0 + 0.1 * g.standard_normal(shape)
    elif name.endswith("bias"):
        a = 0.1 * g.standard_normal(shape)
    elif "embed" in name:
        a = 0.5 * g.standard_normal(shape)
    else:
        a = g.standard_normal(shape) / np.sqrt(shape[-1])
    return torch.from_numpy(a.astype(np.float32))


def write_json(path, obj, compact=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")


QWEN2_KEYS = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings", "hidden_act",
              "use_sliding_window", "attention_dropout"]
BERT_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
             "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "hidden_act", "pad_token_id",
             "hidden_dropout_prob", "attention_probs_dropout_prob"]


def write_config(path, cfg, architectures, keys, extra):
    """An explicit config.json (only the keys the model reads), so the bytes do not depend on the transformers
    version that wrote them."""
    d = {k: getattr(cfg, k) for k in keys}
    d.update(extra)
    d["architectures"] = architectures
    d["model_type"] = cfg.model_type
    d["torch_dtype"] = "float32"
    write_json(path, d)


def vocab_size(tokenizer_path):
    with open(tokenizer_path, encoding="utf-8") as f:
        t = json.load(f)
    return max([*t["model"]["vocab"].values(), *(a["id"] for a in t["added_tokens"])]) + 1


def make_backbone(out, tokenizers_dir, seed):
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(tokenizers_dir, "bpe", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    vocab = vocab_size(os.path.join(out, "tokenizer.json")) + 9  # rows past the tokenizer, as Qwen2.5 has
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=D_MODEL, intermediate_size=88, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=512,
                      rope_theta=25000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                      bos_token_id=None, eos_token_id=None, pad_token_id=None)
    write_config(os.path.join(out, "config.json"), cfg, ["Qwen2ForCausalLM"], QWEN2_KEYS, {"rope_theta": 25000.0})
    model = ref.Qwen2Model(cfg)
    g = rng(seed)
    state = {f"model.{k}": fill(tuple(v.shape), k, g) for k, v in sorted(model.state_dict().items())}
    save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})


def make_encoder(out, tokenizers_dir, spec, seed):
    tok_name, layers, heads, inter, positions, dtype = spec
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(tokenizers_dir, tok_name, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    cfg = BertConfig(vocab_size=vocab_size(os.path.join(out, "tokenizer.json")), hidden_size=E_DIM,
                     num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=inter,
                     max_position_embeddings=positions, type_vocab_size=2, layer_norm_eps=1e-12,
                     hidden_act="gelu", pad_token_id=0)
    write_config(os.path.join(out, "config.json"), cfg, ["BertModel"], BERT_KEYS,
                 {"position_embedding_type": "absolute"})
    model = ref.BertModel(cfg, add_pooling_layer=False)
    g = rng(seed)
    state = {k: fill(tuple(v.shape), k, g).to(dtype) for k, v in sorted(model.state_dict().items())
             if not k.endswith("position_ids") and not k.endswith("token_type_ids")}
    save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})


def adapter_tensors(prefix, g, e, d):
    return {
        f"{prefix}.norm.weight": fill((e,), "norm.weight", g), f"{prefix}.norm.bias": fill((e,), "bias", g),
        f"{prefix}.fc1.weight": fill((e, e), "w", g), f"{prefix}.fc1.bias": fill((e,), "bias", g),
        f"{prefix}.fc2.weight": fill((d, e), "w", g), f"{prefix}.fc2.bias": fill((d,), "bias", g),
    }


def make_heads(path, seed):
    g = rng(seed)
    t = {}
    for name, *_ in MODALITIES:
        t.update(adapter_tensors(f"adapters.event.{name}", g, E_DIM, D_MODEL))
    t.update(adapter_tensors("adapters.modal", g, E_DIM, D_MODEL))
    t.update(adapter_tensors("adapters.user", g, E_DIM, D_MODEL))
    t["tabular.tabular.slot.weight"] = fill((D_MODEL, TAB_F), "w", g)
    t["tabular.tabular.slot.bias"] = fill((D_MODEL,), "bias", g)
    t["tabular.tabular.mean.weight"] = fill((E_DIM, TAB_F), "w", g)
    t["tabular.tabular.mean.bias"] = fill((E_DIM,), "bias", g)
    t["projection.fc1.weight"] = fill((PROJ_HIDDEN, D_MODEL), "w", g)
    t["projection.fc1.bias"] = fill((PROJ_HIDDEN,), "bias", g)
    t["projection.fc2.weight"] = fill((PROJ_OUT, PROJ_HIDDEN), "w", g)
    t["projection.fc2.bias"] = fill((PROJ_OUT,), "bias", g)
    t["scenarios.credit_risk.soft_prompt"] = torch.from_numpy((0.5 * g.standard_normal((4, D_MODEL))).astype(np.float32))
    protos = g.standard_normal((3, PROJ_OUT))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    t["scenarios.credit_risk.prototypes"] = torch.from_numpy(protos.astype(np.float32))
    save_file(dict(sorted(t.items())), path, metadata={"format": "pt"})


def manifest():
    mods = []
    for name, kind, k, maxtok, enc, stem in MODALITIES:
        mods.append({"name": name, "kind": kind, "max_events": k, "max_text_tokens": maxtok, "encoder": enc,
                     "start_token": f"<|{stem}_start|>", "end_token": f"<|{stem}_end|>", "pad_token": f"<|{stem}_pad|>"})
    mods.append({"name": "tabular", "kind": "tabular", "features": TAB_F, "slots": 3,
                 "start_token": "<|tabular_start|>", "end_token": "<|tabular_end|>", "pad_token": "<|tabular_pad|>"})
    layout = [
        {"kind": "special", "token": "<|im_start|>"},
        {"kind": "text", "text": "system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"},
        {"kind": "text", "text": PREAMBLE},
        {"kind": "summary"},
        *({"kind": "modality", "modality": m} for m in BLOCK_ORDER),
        {"kind": "text", "text": "\n"},
    ]
    return {
        "format_version": ref.FORMAT_VERSION,
        "name": "qanchor-tiny-test",
        "version": "1.0.0",
        "backbone": "backbone",
        "modalities": mods,
        "window_days": 90,
        "layout": layout,
        "suffix_template": "Query: {query}",
        "readout_token": "<|user_emb|>",
        "adapter_layer_norm_eps": 1e-6,
        "padding_visible": True,
        "projection": {"hidden": PROJ_HIDDEN, "output": PROJ_OUT},
        "normalize": True,
        "text_tower": {"template": "{text}", "max_tokens": 40},
        "scenarios": [
            {"id": "credit_risk", "query": "Will this user repay the loan on time over the next 30 days?",
             "soft_prompt": "scenarios.credit_risk.soft_prompt", "prototypes": "scenarios.credit_risk.prototypes",
             "labels": ["low", "medium", "high"], "tau": 0.2},
            {"id": "engagement", "query": "Which mini programs will the user open next week? 用户下周会打开哪些小程序？"},
            {"id": "generic", "query": ""},
        ],
    }


# ------------------------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------------------------

LONG_EN = ("Paid 1,299.00 CNY at the flagship electronics store for a noise cancelling headset, extended warranty "
           "and a gift card; installment plan over twelve months with zero interest, promotion code applied, "
           "receipt sent by e-mail, delivery scheduled for the weekend")
LONG_ZH = "在瑞幸咖啡支付38.00元，使用优惠券抵扣5元，会员积分增加120分，下次消费可兑换免费饮品一杯，感谢您的光临，欢迎再次使用支付宝付款"
TEXTS = {
    "bill": ["Paid 38.00 CNY at Lucky Coffee, food & drink", "Transfer 500.00 to savings", LONG_EN,
             "Electricity bill 212.40 CNY", "Refund 19.90 from Taobao order", "Taxi ride 45.00 CNY (Didi)",
             "Grocery 88.60 CNY — Hema Fresh", "Mobile top-up 100.00", LONG_ZH, "Café crème 4,50 € à Paris"],
    "app": ["Alipay", "WeChat", "Taobao", "Ele.me 饿了么", "Amap 高德地图"],
    "mini": ["Ant Forest", "Yu'e Bao fund", "Metro QR code", "蚂蚁森林 收能量", "Hello Bike 哈啰单车"],
    "search": ["coffee near me", "Credit CARD repayment", "信用卡还款", "東京 ラーメン", "ΟΔΟΣ Αθήνα", "iPhone 16 Pro",
               "🍜 noodles 🍜", "Ñandú señor", "flights to Seoul 서울"],
    "spm": ["a1.b2.c3.d4", "home.banner.promo.1", "wealth.fund.detail.buy", "bill.list.item.7"],
}


RFC3339_CASES = [
    "1970-01-01T00:00:00Z", "2026-11-28T00:00:00Z", "2026-11-28T08:00:00.250+08:00", "2026-11-27T18:30:00.9999-05:30",
    "2024-02-29T12:00:00Z", "2000-02-29T23:59:59.999Z", "1969-12-31T23:59:59.5Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999+23:59", "2026-03-01T00:00:00-00:00",
    # not accepted
    "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-28 00:00:00Z", "2026-11-28T24:00:00Z",
    "2026-11-28T00:60:00Z", "2026-11-28T00:00:60Z", "2026-11-28T00:00:00", "2026-11-28T00:00:00z",
    "2026-11-28t00:00:00Z", "2026-11-28T00:00:00.Z", "2026-11-28T00:00:00+0800", "2026-11-28T00:00:00+24:00",
    "2026-11-28T00:00:00+08:60", "0000-01-01T00:00:00Z", "2026-11-28T00:00:00Z\n", " 2026-11-28T00:00:00Z",
    "２０２６-11-28T00:00:00Z", "2026-11-28T00:00:00.1234567890Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
    "2026-04-31T00:00:00Z", "26-11-28T00:00:00Z", "",
]


def ms(days=0.0, seconds=0):
    return ref.parse_time_ms(NOW) + int(days * ref.DAY_MS) + seconds * 1000


def iso(t_ms, offset_minutes=0, fraction=True):
    import datetime as dt
    z = dt.timezone(dt.timedelta(minutes=offset_minutes))
    t = dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.timezone.utc).astimezone(z)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        s += f".{t_ms % 1000:03d}"
    return s + ("Z" if offset_minutes == 0 else t.strftime("%z")[:3] + ":" + t.strftime("%z")[3:])


def text_event(mod, eid, user, ts, text):
    return {"modality": mod, "event_id": eid, "user_id": user, "ts": ts, "text": text}


def tab_event(eid, user, ts, g):
    return {"modality": "tabular", "event_id": eid, "user_id": user, "ts": ts,
            "features": [round(float(v), 4) for v in g.standard_normal(TAB_F)]}


def users_events():
    g = rng(7)
    ev = []
    # u01: every modality, bill and search over their caps, a tie in ts, three tabular snapshots (one too old).
    for i in range(8):
        ev.append(text_event("bill", f"u01-b{i}", "u01", ms(-80 + 9 * i), TEXTS["bill"][i]))
    ev.append(text_event("bill", "u01-b8", "u01", ms(-80 + 9 * 5), TEXTS["bill"][8]))  # same ts as u01-b5
    for i in range(2):
        ev.append(text_event("app", f"u01-a{i}", "u01", iso(ms(-10 + i)), TEXTS["app"][i]))
    for i in range(4):
        ev.append(text_event("mini", f"u01-m{i}", "u01", ms(-30 + 7 * i), TEXTS["mini"][i]))
    for i in range(7):
        ev.append(text_event("search", f"u01-s{i}", "u01", ms(-60 + 8 * i, 17), TEXTS["search"][i]))
    for i in range(3):
        ev.append(text_event("spm", f"u01-p{i}", "u01", ms(-3 + i), TEXTS["spm"][i]))
    ev.append(tab_event("u01-t0", "u01", ms(-95), g))
    ev.append(tab_event("u01-t1", "u01", iso(ms(-20), 480), g))
    ev.append(tab_event("u01-t2", "u01", ms(-5), g))
    # u02: sparse, no tabular.
    ev.append(text_event("bill", "u02-b0", "u02", ms(-1), TEXTS["bill"][3]))
    ev.append(text_event("search", "u02-s0", "u02", ms(-2), TEXTS["search"][2]))
    ev.append(text_event("search", "u02-s1", "u02", ms(-2.5), TEXTS["search"][3]))
    # u03: nothing inside the window (too old, one millisecond too old, too far in the future).
    ev.append(text_event("bill", "u03-b0", "u03", ms(-91), TEXTS["bill"][0]))
    ev.append(text_event("app", "u03-a0", "u03", ms(-90) - 1, TEXTS["app"][2]))
    ev.append(text_event("mini", "u03-m0", "u03", ms(2), TEXTS["mini"][1]))
    ev.append(text_event("spm", "u03-p0", "u03", ms(0, SKEW_SECONDS) + 1, TEXTS["spm"][3]))
    ev.append(tab_event("u03-t0", "u03", ms(3), g))
    # u04: duplicates (first wins even when the repeat is newer), window edges included, equal timestamps.
    ev.append(text_event("bill", "u04-dup", "u04", ms(-4), TEXTS["bill"][4]))
    ev.append(text_event("bill", "u04-b1", "u04", ms(-90), TEXTS["bill"][5]))            # exactly now - window
    ev.append(text_event("bill", "u04-dup", "u04", ms(-1), TEXTS["bill"][6]))            # duplicate: dropped
    ev.append(text_event("bill", "u04-b2", "u04", ms(0, SKEW_SECONDS), TEXTS["bill"][7]))  # exactly now + skew
    ev.append(text_event("app", "u04-a1", "u04", ms(-7), TEXTS["app"][3]))
    ev.append(text_event("app", "u04-a0", "u04", ms(-7), TEXTS["app"][4]))               # tie: a0 older than a1
    ev.append(text_event("app", "u04-a1", "u04", ms(-6), TEXTS["app"][0]))               # duplicate: dropped
    ev.append(text_event("app", "u04-a2", "u04", ms(-7), TEXTS["app"][1]))
    ev.append(text_event("app", "u04-a3", "u04", ms(-8), TEXTS["app"][2]))               # oldest: over the cap
    ev.append(tab_event("u04-t0", "u04", ms(-2), g))
    ev.append(tab_event("u04-t0", "u04", ms(-1), g))                                     # duplicate: dropped
    # u05: long and multilingual texts everywhere, RFC 3339 times with offsets.
    ev.append(text_event("bill", "u05-b0", "u05", iso(ms(-12), -300), LONG_ZH))
    ev.append(text_event("bill", "u05-b1", "u05", iso(ms(-11), 330), TEXTS["bill"][9]))
    ev.append(text_event("bill", "u05-b2", "u05", iso(ms(-10), 0, False), LONG_EN + " " + LONG_ZH))
    ev.append(text_event("mini", "u05-m0", "u05", ms(-9), TEXTS["mini"][3]))
    ev.append(text_event("mini", "u05-m1", "u05", ms(-8), TEXTS["mini"][4]))
    for i in range(4, 9):
        ev.append(text_event("search", f"u05-s{i}", "u05", ms(-20 + i), TEXTS["search"][i]))
    ev.append(text_event("app", "u05-a0", "u05", ms(-3), TEXTS["app"][3]))
    ev.append(text_event("spm", "u05-p0", "u05", ms(-2), ""))                            # empty text
    ev.append(tab_event("u05-t0", "u05", ms(-1), g))
    # u06: tabular only.
    ev.append(tab_event("u06-t0", "u06", ms(-40), g))
    return ev


def bad_lines():
    g = rng(11)
    good = [text_event("bill", "u07-b0", "u07", ms(-1), "Paid 12.00 CNY"),
            tab_event("u07-t0", "u07", float(ms(-2)), g)]
    lines = [
        "\ufeff" + json.dumps(good[0], ensure_ascii=False),                                   # BOM: allowed here
        '{"modality": "bill", "event_id": "x1", "user_id": "u07", "ts": 1,',                  # truncated JSON
        '["not", "an", "object"]',
        json.dumps({"modality": "video", "event_id": "x2", "user_id": "u07", "ts": ms(-1), "text": "x"}),
        json.dumps({"modality": "bill", "event_id": "x3", "ts": ms(-1), "text": "no user"}),
        json.dumps({"modality": "bill", "event_id": "x4", "user_id": "u07", "ts": "yesterday", "text": "x"}),
        json.dumps({"modality": "bill", "event_id": "x5", "user_id": "u07", "ts": 1764287999999.5, "text": "fraction"}),
        json.dumps({"modality": "tabular", "event_id": "x6", "user_id": "u07", "ts": ms(-1), "features": [1, 2]}),
        '{"modality": "tabular", "event_id": "x7", "user_id": "u07", "ts": %d, "features": [1, 2, 3, NaN, 5, 6, 7]}'
        % ms(-1),
        json.dumps({"modality": "bill", "event_id": "x8", "user_id": "u07", "ts": ms(-1), "features": [1.0]}),
        json.dumps({"modality": "bill", "event_id": 9, "user_id": "u07", "ts": ms(-1), "text": "numeric id"}),
        "",
        json.dumps(good[1]),
        json.dumps({"modality": "tabular", "event_id": "x10", "user_id": "u07", "ts": ms(-1),
                    "features": [1, 2, 3, "4", 5, 6, 7]}),
        json.dumps({"modality": "bill", "event_id": "x11", "user_id": "u07", "ts": "2026-02-30T00:00:00Z",
                    "text": "no such day"}),
        '{"modality": "bill", "event_id": "x12", "user_id": "u07", "ts": %d, "text": "lone \\ud800 surrogate"}'
        % ms(-1),
        '{"modality": "bill", "event_id": "x13", "user_id": "u07", "ts": 1000000000000000000000000, "text": "huge"}',
        '{"modality": "bill", "event_id": "x14", "user_id": "u07", "ts": %d, "text": "pair \\ud83c\\udf5c ok"}'
        % ms(-3),
        "\ufeff" + json.dumps({"modality": "bill", "event_id": "x15", "user_id": "u07", "ts": ms(-1), "text": "BOM"}),
        '{"modality": "bill", "event_id": "x16", "user_id": "u07", "ts": %d, "text": "first", "text": "second"}'
        % ms(-4),
        '{"modality": "tabular", "event_id": "x17", "user_id": "u07", "ts": %d, "features": [1, 2, 3, 4e38, 5, 6, 7]}'
        % ms(-1),
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------
# Goldens
# ------------------------------------------------------------------------------------------------------------

def plan_json(plan):
    out = []
    for item in plan:
        if isinstance(item, int):
            out.append(item)
        elif item[0] == "summary":
            out.append(f"summary:{item[1]}")
        else:
            out.append(f"event:{item[1]}:{item[2]}")
    return out


def golden_file(bundle, path, now_ms, h_cache):
    events, bad = ref.read_events(path, bundle.manifest)
    selection, dropped = ref.select_events(events, bundle.manifest, now_ms, SKEW_SECONDS * 1000)
    records, internals = ref.embed_users(bundle, selection, now_ms, h_cache=h_cache)
    sel = {u: {m: [e["event_id"] for e in evs] for m, evs in mods.items()} for u, mods in selection.items()}
    users = {}
    for u, info in internals.items():
        users[u] = {
            "prefix_length": info["prefix_length"],
            "summary_tokens": info["summary"].tolist(),
            "slot_tokens": {m: b.tolist() for m, b in info["blocks"].items()},
            "scenarios": {sid: {"hidden": s["hidden"].tolist(), "embedding": s["embedding"].tolist(),
                                **({"scores": s["scores"]} if s["scores"] is not None else {})}
                          for sid, s in info["scenarios"].items()},
        }
    parsed = [{k: e[k] for k in ("line", "modality", "event_id", "user_id", "ts", "text", "features") if k in e}
              for e in events]
    summary = {"parsed": parsed, "bad_lines": [{"line": n, "reason": r} for n, r in bad],
               "dropped": [{"line": n, "reason": r} for n, r in dropped],
               "selected_event_ids": sel, "exit_code": 1 if bad else 0}
    return events, summary, users, records


BAD_MANIFESTS = [
    # (label, edit): edit = {"path": [...], "set": value} | {"path": [...], "delete": true} | {"path": [...], "append": v}
    ("newer format", {"path": ["format_version"], "set": 2}),
    ("unknown start token", {"path": ["modalities", 3, "start_token"], "set": "<|search_start|>"}),
    ("unknown pad token", {"path": ["modalities", 5, "pad_token"], "set": "<|tab|>"}),
    ("unknown readout token", {"path": ["readout_token"], "set": "<|user|>"}),
    ("unknown special segment", {"path": ["layout", 0], "set": {"kind": "special", "token": "<|im_begin|>"}}),
    ("K_m zero", {"path": ["modalities", 0, "max_events"], "set": 0}),
    ("K_m negative", {"path": ["modalities", 1, "max_events"], "set": -3}),
    ("K_m not a number", {"path": ["modalities", 2, "max_events"], "set": "four"}),
    ("token limit below 2", {"path": ["modalities", 2, "max_text_tokens"], "set": 1}),
    ("F zero", {"path": ["modalities", 5, "features"], "set": 0}),
    ("slots negative", {"path": ["modalities", 5, "slots"], "set": -1}),
    ("duplicate modality", {"path": ["modalities", 2, "name"], "set": "bill"}),
    ("bad modality name", {"path": ["modalities", 2, "name"], "set": "Mini"}),
    ("encoder outside", {"path": ["modalities", 0, "encoder"], "set": "../elsewhere"}),
    ("backbone path", {"path": ["backbone"], "set": "./backbone"}),
    ("window zero", {"path": ["window_days"], "set": 0}),
    ("window missing", {"path": ["window_days"], "delete": True}),
    ("missing block", {"path": ["layout", 7], "delete": True}),
    ("missing summary", {"path": ["layout", 3], "delete": True}),
    ("two summaries", {"path": ["layout"], "append": {"kind": "summary"}}),
    ("block of unknown modality", {"path": ["layout"], "append": {"kind": "modality", "modality": "video"}}),
    ("template without query", {"path": ["suffix_template"], "set": "Query:"}),
    ("template with two queries", {"path": ["suffix_template"], "set": "{query} {query}"}),
    ("template with readout", {"path": ["suffix_template"], "set": "Query: {query}<|user_emb|>"}),
    ("text tower template", {"path": ["text_tower", "template"], "set": "text"}),
    ("projection zero", {"path": ["projection", "hidden"], "set": 0}),
    ("eps zero", {"path": ["adapter_layer_norm_eps"], "set": 0}),
    ("duplicate scenario", {"path": ["scenarios", 1, "id"], "set": "credit_risk"}),
    ("bad scenario id", {"path": ["scenarios", 1, "id"], "set": "has space"}),
    ("labels without prototypes", {"path": ["scenarios", 1, "labels"], "set": ["a", "b"]}),
    ("tau zero", {"path": ["scenarios", 0, "tau"], "set": 0}),
    ("repeated labels", {"path": ["scenarios", 0, "labels"], "set": ["a", "a", "b"]}),
]


def apply_edit(obj, edit):
    *parents, last = edit["path"]
    for key in parents:
        obj = obj[key]
    if "set" in edit:
        obj[last] = edit["set"]
    elif edit.get("delete"):
        del obj[last]
    else:
        obj[last].append(edit["append"])


def bad_manifest_goldens(bundle):
    """Each edit of the tiny manifest and the field the Python validator names; the Swift validator must agree."""
    import copy
    import re
    out = []
    for label, edit in BAD_MANIFESTS:
        m = copy.deepcopy(bundle.manifest)
        apply_edit(m, edit)
        try:
            ref.validate_manifest(m, lambda t: bundle.tok.token_to_id(t) if isinstance(t, str) else None)
        except ref.BundleError as err:
            field = re.match(r"^qanchor\.json: '([^']*)'", str(err))
            if not field:
                raise SystemExit(f"{label}: message names no field: {err}")
            out.append({"label": label, "edit": edit, "field": field.group(1), "message": str(err)})
            continue
        raise SystemExit(f"{label}: the reference accepted the edit")
    return out


def sha256_goldens():
    """hashlib digests for the pure-Swift SHA-256: known texts, a byte pattern at block-boundary lengths, 10^6 'a'."""
    import hashlib
    texts = ["", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
             "你好, Q-Anchor 🍜"]
    cases = [{"text": t, "sha256": hashlib.sha256(t.encode("utf-8")).hexdigest()} for t in texts]
    for n in [1, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1000, 65537, 1048577, 3000001]:
        data = bytes((i * 31 + 7) % 256 for i in range(n))
        cases.append({"pattern_length": n, "sha256": hashlib.sha256(data).hexdigest()})
    cases.append({"repeat_byte": 97, "count": 1000000, "sha256": hashlib.sha256(b"a" * 1000000).hexdigest()})
    return {"pattern": "byte i = (i * 31 + 7) mod 256", "cases": cases}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    root = args.root
    tok_dir = os.path.join(root, "testdata", "tokenizers")
    bundle_dir = os.path.join(root, "testdata", "models", "tiny")
    shutil.rmtree(bundle_dir, ignore_errors=True)
    make_backbone(os.path.join(bundle_dir, "backbone"), tok_dir, seed=101)
    for i, (d, spec) in enumerate(sorted(ENCODERS.items())):
        make_encoder(os.path.join(bundle_dir, *d.split("/")), tok_dir, spec, seed=201 + i)
    make_heads(os.path.join(bundle_dir, ref.HEADS), seed=301)
    write_json(os.path.join(bundle_dir, ref.MANIFEST), manifest())

    events_dir = os.path.join(root, "testdata", "events")
    os.makedirs(events_dir, exist_ok=True)
    with open(os.path.join(events_dir, "users.jsonl"), "w", encoding="utf-8") as f:
        for e in users_events():
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    with open(os.path.join(events_dir, "bad-lines.jsonl"), "w", encoding="utf-8") as f:
        f.write(bad_lines())

    bundle = ref.Bundle(bundle_dir)
    now_ms = ref.parse_time_ms(NOW)
    gold = os.path.join(root, "testdata", "goldens", "tiny")
    shutil.rmtree(gold, ignore_errors=True)
    listing = ref.fingerprint_listing(bundle_dir).decode("utf-8").splitlines()
    plan = bundle.prefix_plan()
    write_json(os.path.join(gold, "bundle.json"), {
        "fingerprint": bundle.fingerprint,
        "listing": listing,
        "prefix_plan": plan_json(plan),
        "prefix_length": len(plan),
        "readout_id": bundle.readout_id,
        "suffix_ids": {sid: bundle.suffix_ids(sid) for sid in bundle.scenarios},
        "soft_prompt_rows": {sid: int(bundle.soft_prompt(sid).shape[0]) for sid in bundle.scenarios},
    })

    h_cache = {}
    files, all_users = {}, {}
    for name in ("users.jsonl", "bad-lines.jsonl"):
        events, summary, users, records = golden_file(bundle, os.path.join(events_dir, name), now_ms, h_cache)
        files[name] = summary
        all_users[name] = users
        stem = name.rsplit(".", 1)[0]
        with open(os.path.join(gold, f"embed-{stem}.jsonl"), "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        # every text event of the file (selected or not) gets its h, for the encoder check
        for e in events:
            if "text" in e and (e["modality"], e["text"]) not in h_cache:
                h_cache[(e["modality"], e["text"])] = bundle.event_vector(e["modality"], e["text"])
    rfc3339 = [{"text": t, "ms": ref.parse_time_ms(t)} for t in RFC3339_CASES]
    write_json(os.path.join(gold, "events.json"), {
        "now": NOW, "now_ms": now_ms, "skew_ms": SKEW_SECONDS * 1000, "rfc3339": rfc3339,
        "window_start_ms": now_ms - bundle.manifest["window_days"] * ref.DAY_MS, "files": files})
    write_json(os.path.join(gold, "users.json"), all_users, compact=True)
    vectors = [{"modality": m, "text": t, "ids": ids, "h": h.tolist()}
               for (m, t), (ids, h) in sorted(h_cache.items(), key=lambda kv: (kv[0][0], kv[0][1].encode("utf-8")))]
    write_json(os.path.join(gold, "event_vectors.json"), vectors, compact=True)
    tower = []
    for text in ["A user who pays for coffee every morning and repays credit cards on time.",
                 "经常在周末点外卖的年轻用户", "x", LONG_EN + " " + LONG_EN, "<|user_emb|> inside text"]:
        ids, hidden, u = bundle.text_tower(text)
        tower.append({"text": text, "ids": ids, "hidden": hidden.tolist(), "embedding": u.tolist()})
    write_json(os.path.join(gold, "text_tower.json"), tower, compact=True)
    write_json(os.path.join(root, "testdata", "goldens", "sha256.json"), sha256_goldens())
    write_json(os.path.join(gold, "bad-manifests.json"), bad_manifest_goldens(bundle))
    print(f"bundle {bundle_dir}: {bundle.fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/opt/qanchor/ref/bin/python
"""End-to-end check of convert_checkpoint.py on a synthetic checkpoint with the authors' structure.

1. Builds tiny base models in a temporary directory: a "Qwen2.5" (hidden 24, 2 layers, 3 heads, 1 KV head,
   vocab 151936, the test BPE tokenizer padded to Qwen2.5's 151643 + 22 added tokens so that the Q-Anchor tokens
   land on 151665-151683) and a "gte-base-zh" (BertModel with pooler, hidden 20, the wordpiece test tokenizer).
2. Re-creates the authors' module structure (modeling.py: ModalEncoder, *Encoder with text_model/llm_adapter,
   TabularMLP, UserAdapter/ModalAdapter, SimpleMLP low_dim_mlp_left) with peft-style LoRA layers
   (base_layer + lora_A.default + lora_B.default, scaling alpha/r) injected where infer_ddp.py injects them,
   fills every tensor with random values (lora_B too, so the merge matters), and saves the checkpoint as
   utils.save_model does.
3. Converts it, then compares, for several users and two queries, the converted bundle run through
   qanchor_reference.py (merged weights, per-text BERT, prefix from the layout) with a direct run of the
   unconverted model written the authors' way (LoRA unmerged, padded GTE batches, placeholder tokens replaced by
   masked_scatter, the 7 summary tokens spliced before <|bill_start|>, special_pooling at id 151683).
   Pass: cosine >= 0.99999 and max-abs <= 1e-4 per embedding; the token ids of both sequences are equal.

Usage: /opt/qanchor/ref/bin/python ops/model/test_convert.py [--keep DIR]   (exit code 0 = pass)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel, Qwen2Config, Qwen2ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import convert_checkpoint as conv  # noqa: E402
import qanchor_reference as ref  # noqa: E402

R_LLM, ALPHA_LLM, R_ENC, ALPHA_ENC = 4, 8.0, 3, 6.0
D, E, F_TAB, TAB_SLOTS = 24, 20, 5, 2
K = {"bill": 3, "minipro": 2, "spm": 2, "sousuo": 3, "app": 2}
MAXTOK = {"bill": 12, "minipro": 8, "spm": 10, "sousuo": 6, "app": 7}
USED = conv.DEFAULT_USED_MODALITIES.split(",")
NOW_MS = ref.parse_time_ms("2026-11-28T00:00:00Z")


# ---------------------------------------------------------------------------------------------------------------
# The authors' module structure (modeling.py), with peft-style LoRA
# ---------------------------------------------------------------------------------------------------------------

class LoraLinear(nn.Module):
    """peft's lora.Linear state layout: base_layer, lora_A/lora_B ModuleDicts keyed by adapter name."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.ModuleDict({"default": nn.Linear(base.in_features, r, bias=False)})
        self.lora_B = nn.ModuleDict({"default": nn.Linear(r, base.out_features, bias=False)})
        self.lora_dropout = nn.ModuleDict({"default": nn.Identity()})
        self.scaling = alpha / r

    def forward(self, x):
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](self.lora_dropout["default"](x))) * self.scaling


def inject_lora(model, targets, r, alpha):
    """Replaces every nn.Linear whose qualified name equals or ends with '.' + a target (peft's rule)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, LoraLinear(module, r, alpha))


class LLMAdapter(nn.Module):
    def __init__(self, e, d):
        super().__init__()
        self.ln_q = nn.LayerNorm(e, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(e, e), nn.GELU(), nn.Linear(e, d))

    def forward(self, x):
        return self.mlp(self.ln_q(x))


class ModalEncoder(nn.Module):
    def __init__(self, gte_dir):
        super().__init__()
        self.sentence_model = BertModel.from_pretrained(gte_dir, attn_implementation="eager")

    def forward(self, input_ids, attention_mask):
        return self.sentence_model(input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]


def masked_mean(x, valid):
    m = valid.unsqueeze(-1).expand(x.size()).float()
    return torch.sum(x * m, 1) / torch.clamp(m.sum(1), min=1e-9)


class TextModalityEncoder(nn.Module):
    """BillEncoder / MiniProgramEncoder / SPMEncoder / APPEncoder / SearchEncoder (identical but for sizes)."""

    def __init__(self, gte_dir, item_num, max_len):
        super().__init__()
        self.text_model = ModalEncoder(gte_dir)
        self.llm_adapter = LLMAdapter(E, D)
        self.item_num, self.max_len = item_num, max_len

    def forward(self, batch):
        (input_ids, attention_masks), padnum, mask = batch
        valid_uid = padnum > 0
        valid_text = (~mask).reshape(-1)
        if valid_uid.sum() == 0:
            total = torch.zeros(valid_uid.size(0), self.item_num, E)
            return self.llm_adapter(total), total.mean(1)
        ids = input_ids.reshape(-1, self.max_len)[valid_text]
        att = attention_masks.reshape(-1, self.max_len)[valid_text]
        cls = self.text_model(ids, att)
        total = torch.zeros(valid_text.size(0), E, dtype=cls.dtype)
        total[valid_text] = cls
        total = total.reshape(-1, self.item_num, E)
        return self.llm_adapter(total), masked_mean(total, ~mask)


class TabularMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(F_TAB, D)
        self.linear_for_prepose_pooling = nn.Linear(F_TAB, E)

    def forward(self, x):
        out = self.linear(x).unsqueeze(1)
        return out.expand(out.shape[0], TAB_SLOTS, out.shape[-1]), self.linear_for_prepose_pooling(x)


class SimpleMLP(nn.Module):
    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        self.fc_seq = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))

    def forward(self, x):
        return self.fc_seq(x)


class AdapterHolder(nn.Module):  # UserAdapter / ModalAdapter
    def __init__(self):
        super().__init__()
        self.llm_adapter = LLMAdapter(E, D)

    def forward(self, x):
        return self.llm_adapter(x)


class AuthorsModel(nn.Module):
    def __init__(self, qwen_dir, gte_dir):
        super().__init__()
        self.llm_model = Qwen2ForCausalLM.from_pretrained(qwen_dir, attn_implementation="eager")
        self.modal_encoder_list = nn.ModuleDict({
            "bill": TextModalityEncoder(gte_dir, K["bill"], MAXTOK["bill"]),
            "minipro": TextModalityEncoder(gte_dir, K["minipro"], MAXTOK["minipro"]),
            "spm": TextModalityEncoder(gte_dir, K["spm"], MAXTOK["spm"]),
            "app": TextModalityEncoder(gte_dir, K["app"], MAXTOK["app"]),
            "sousuo": TextModalityEncoder(gte_dir, K["sousuo"], MAXTOK["sousuo"]),
            "tabular": TabularMLP(),
            "user_adapter": AdapterHolder(),
            "modal_adapter": AdapterHolder(),
        })
        self.low_dim_mlp_left = SimpleMLP(D, 36, 16)
        inject_lora(self.llm_model, conv.LLM_LORA_TARGETS, R_LLM, ALPHA_LLM)
        inject_lora(self.modal_encoder_list, ["query", "value", "key", "output.dense"], R_ENC, ALPHA_ENC)

    @torch.no_grad()
    def evaluate(self, input_ids, multimode_data):
        """modeling.py MultimodalForConditionalGeneration.evaluate, batch of one row."""
        embeds = self.llm_model.get_input_embeddings()(input_ids)
        token_ids = {m: 151665 + i for i, m in enumerate(conv.TOKEN_ORDER)}
        means = []
        for key in multimode_data:
            modal_embeds, avg = self.modal_encoder_list[key](multimode_data[key])
            mask = (input_ids == token_ids[key]).unsqueeze(-1).expand_as(embeds)
            assert int((input_ids == token_ids[key]).sum()) == modal_embeds.shape[0] * modal_embeds.shape[1]
            embeds = embeds.masked_scatter(mask, modal_embeds.to(embeds.dtype))
            means.append(avg)
        stacked = torch.stack(means, dim=0)
        user = self.modal_encoder_list["user_adapter"](stacked.mean(0))
        modal = self.modal_encoder_list["modal_adapter"](stacked)
        prepose = torch.cat([user.unsqueeze(0), modal], dim=0).permute(1, 0, 2)
        at = (input_ids == 151671).nonzero()[0][-1].item()
        embeds = torch.cat([embeds[:, :at], prepose, embeds[:, at:]], dim=1)
        input_ids = torch.cat([input_ids[:, :at], torch.ones(1, prepose.shape[1], dtype=torch.long), input_ids[:, at:]], 1)
        out = self.llm_model.model(inputs_embeds=embeds, attention_mask=torch.ones(input_ids.shape, dtype=torch.long))[0]
        idx = (input_ids == 151683).nonzero(as_tuple=True)[1]
        left = out[torch.arange(out.size(0)), idx]
        return F.normalize(self.low_dim_mlp_left(left), p=2, dim=1)[0]


# ---------------------------------------------------------------------------------------------------------------
# Synthetic base models
# ---------------------------------------------------------------------------------------------------------------

def qwen_like_tokenizer(path):
    """The BPE test tokenizer with its vocabulary padded to 151643 entries and Qwen2.5's 22 added tokens."""
    with open(os.path.join(ROOT, "testdata/tokenizers/bpe/tokenizer.json"), encoding="utf-8") as f:
        t = json.load(f)
    vocab = t["model"]["vocab"]
    alphabet = sorted({ch for tok in vocab for ch in tok})
    n = 0
    while len(vocab) < 151643:
        a, b, c = alphabet[n % len(alphabet)], alphabet[(n // len(alphabet)) % len(alphabet)], alphabet[n // len(alphabet) ** 2]
        filler = "".join(("Ā", a, b, c))  # never produced: no merge builds it
        n += 1
        if filler not in vocab:
            vocab[filler] = len(vocab)
    base = t["added_tokens"][0]
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|qwen_reserved_{i}|>" for i in range(19)]
    t["added_tokens"] = [dict(base, id=151643 + i, content=name) for i, name in enumerate(names)]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False)


def fill_random(module, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.state_dict().items()):
        if not p.is_floating_point():
            continue
        if name.endswith("norm.weight") or name.endswith("LayerNorm.weight") or name.endswith("ln_q.weight"):
            v = 1 + 0.1 * torch.randn(p.shape, generator=g)
        elif name.endswith("bias"):
            v = 0.1 * torch.randn(p.shape, generator=g)
        elif "embed" in name:
            v = 0.5 * torch.randn(p.shape, generator=g)
        else:
            v = scale * torch.randn(p.shape, generator=g) / max(1, p.shape[-1]) ** 0.5
        p.copy_(v)


def make_bases(tmp):
    qwen, gte = os.path.join(tmp, "qwen"), os.path.join(tmp, "gte")
    os.makedirs(qwen)
    os.makedirs(gte)
    qwen_like_tokenizer(os.path.join(qwen, "tokenizer.json"))
    qcfg = Qwen2Config(vocab_size=151936, hidden_size=D, intermediate_size=40, num_hidden_layers=2,
                       num_attention_heads=3, num_key_value_heads=1, max_position_embeddings=1024, rope_theta=1e6,
                       rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False)
    with torch.no_grad():
        m = Qwen2ForCausalLM(qcfg)
        fill_random(m.model, 1)
    m.save_pretrained(qwen, safe_serialization=True)
    shutil.copyfile(os.path.join(ROOT, "testdata/tokenizers/wordpiece/tokenizer.json"), os.path.join(gte, "tokenizer.json"))
    gcfg = BertConfig(vocab_size=850, hidden_size=E, num_hidden_layers=2, num_attention_heads=2, intermediate_size=28,
                      max_position_embeddings=64)
    with torch.no_grad():
        b = BertModel(gcfg)  # with pooler, like gte-base-zh
        fill_random(b, 2)
    b.save_pretrained(gte, safe_serialization=True)
    return qwen, gte


# ---------------------------------------------------------------------------------------------------------------
# Users and the two runs
# ---------------------------------------------------------------------------------------------------------------

USERS = {
    "alice": {"bill": ["Paid 38.00 CNY at Lucky Coffee", "Electricity 212.40", "Refund 19.90 Taobao order", "Taxi 45"],
              "minipro": ["Ant Forest"], "spm": ["a1.b2.c3", "home.banner"], "sousuo": ["coffee", "信用卡还款"],
              "app": ["Alipay", "WeChat"], "tabular": [0.5, -1.0, 2.0, 0.0, 3.5]},
    "bob": {"bill": [], "minipro": [], "spm": [], "sousuo": ["東京 ラーメン"], "app": [], "tabular": None},
    "carol": {"bill": ["Grocery 88.60 — Hema Fresh, a long description that the GTE limit truncates for sure"],
              "minipro": ["Metro QR code", "Yu'e Bao", "蚂蚁森林"], "spm": [], "sousuo": [], "app": ["Taobao"],
              "tabular": [1, 2, 3, 4, 5]},
}
QUERIES = ["What will the user buy next month?", ""]


def events_jsonl(path):
    with open(path, "w", encoding="utf-8") as f:
        for user, mods in USERS.items():
            for key, items in mods.items():
                name = conv.AUTHORS_MODALITIES[key][0]
                if key == "tabular":
                    if items is not None:
                        f.write(json.dumps({"modality": name, "event_id": f"{user}-t", "user_id": user,
                                            "ts": NOW_MS - 1000, "features": items}) + "\n")
                    continue
                for i, text in enumerate(items):
                    f.write(json.dumps({"modality": name, "event_id": f"{user}-{key}-{i}", "user_id": user,
                                        "ts": NOW_MS - 86_400_000 * (len(items) - i), "text": text},
                                       ensure_ascii=False) + "\n")


def authors_prompt(manifest, query):
    """The prompt text the authors' loader would tokenize: layout text, blocks as placeholder tokens, no summary."""
    parts = []
    by_name = {m["name"]: m for m in manifest["modalities"]}
    for seg in manifest["layout"]:
        if seg["kind"] == "text":
            parts.append(seg["text"])
        elif seg["kind"] == "special":
            parts.append(seg["token"])
        elif seg["kind"] == "modality":
            m = by_name[seg["modality"]]
            n = m["max_events"] if m["kind"] == "text" else m["slots"]
            parts.append(m["start_token"] + m["pad_token"] * n + m["end_token"])
    return "".join(parts) + manifest["suffix_template"].replace("{query}", query) + "<|user_emb|>"


def authors_batch(user, gte_tok):
    data = {}
    for key in USED:
        items = USERS[user][key]
        if key == "tabular":
            data[key] = torch.tensor([items if items is not None else [0.0] * F_TAB], dtype=torch.float32)
            continue
        items = items[-K[key]:]
        L = MAXTOK[key]
        ids = torch.zeros(1, K[key], L, dtype=torch.long)
        att = torch.zeros(1, K[key], L, dtype=torch.long)
        for i, text in enumerate(items):
            enc = gte_tok.encode(text).ids
            if len(enc) > L:
                enc = enc[: L - 1] + enc[-1:]
            ids[0, i, : len(enc)] = torch.tensor(enc)
            att[0, i, : len(enc)] = 1
        mask = torch.ones(1, K[key], dtype=torch.bool)
        mask[0, : len(items)] = False
        data[key] = ((ids, att), torch.tensor([len(items)]), mask)
    return data


def compare(a, b):
    cos = float(F.cosine_similarity(a, b, dim=0))
    return cos, float((a - b).abs().max())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="write everything under this directory and keep it")
    ap.add_argument("--export", help="after a pass, write a bfloat16 conversion of the same checkpoint, its events "
                                     "and the reference's records for them here (testdata/converted: the Swift "
                                     "half of this check runs `qanchor embed` on it)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    tmp = args.keep or tempfile.mkdtemp(prefix="qanchor-convert-")
    os.makedirs(tmp, exist_ok=True)
    try:
        qwen, gte = make_bases(tmp)
        model = AuthorsModel(qwen, gte).eval()
        fill_random(model.modal_encoder_list, 3)
        fill_random(model.low_dim_mlp_left, 4)
        g = torch.Generator().manual_seed(5)
        for name, p in model.llm_model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        ckpt = os.path.join(tmp, "model_0_100_all.pth")
        torch.save({"lora_state_dict": {k: v for k, v in model.llm_model.state_dict().items() if "lora" in k},
                    "model_state_low_dim_left": model.low_dim_mlp_left.state_dict(),
                    "modal_encoder_list_state_dict": model.modal_encoder_list.state_dict(),
                    "optimizer_state_dict": {}, "epoch": 0}, ckpt)
        saved = torch.load(ckpt, weights_only=False)
        lora_keys = sorted(saved["lora_state_dict"])
        assert lora_keys[0] == "model.layers.0.mlp.down_proj.lora_A.default.weight", lora_keys[0]
        assert "bill.text_model.sentence_model.encoder.layer.0.attention.self.query.base_layer.weight" in saved[
            "modal_encoder_list_state_dict"]

        out = os.path.join(tmp, "bundle")
        k_arg = ",".join(f"{k}={v}" for k, v in K.items()) + f",tabular={TAB_SLOTS}"
        t_arg = ",".join(f"{k}={v}" for k, v in MAXTOK.items())
        scen = os.path.join(tmp, "scenarios.json")
        with open(scen, "w") as f:
            json.dump([{"id": f"q{i}", "query": q} for i, q in enumerate(QUERIES)], f)

        def convert(dest, llm_alpha):
            subprocess.run([sys.executable, os.path.join(HERE, "convert_checkpoint.py"), "--checkpoint", ckpt,
                            "--qwen", qwen, "--gte", gte, "--out", dest, "--lora-r", str(R_LLM),
                            "--lora-alpha", str(llm_alpha), "--encoder-lora-r", str(R_ENC),
                            "--encoder-lora-alpha", str(ALPHA_ENC), "--max-events", k_arg, "--max-text-tokens", t_arg,
                            "--scenarios", scen, "--name", "synthetic"], check=True, stdout=subprocess.DEVNULL)

        convert(out, ALPHA_LLM)

        events = os.path.join(tmp, "events.jsonl")
        events_jsonl(events)
        result = check(out, events, gte, model)
        # Negative control: a converter that merged with the wrong alpha must fail the same check.
        wrong = os.path.join(tmp, "bundle-wrong-alpha")
        convert(wrong, 2 * ALPHA_LLM)
        control = check(wrong, events, gte, model)
        result["negative_control_worst_max_abs"] = control["worst_max_abs"]
        if not control["failures"]:
            result["failures"].append("negative control (alpha doubled) passed: the check cannot see a bad merge")
        result["failures"] += bad_inputs(tmp, ckpt, qwen, gte)
        if args.export and not result["failures"]:
            export(args.export, ckpt, qwen, gte, scen, k_arg, t_arg, events)
            result["exported"] = args.export
        print(json.dumps(result))
        return 1 if result["failures"] else 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def export(dest, ckpt, qwen, gte, scen, k_arg, t_arg, events):
    """The converted bundle in bfloat16 (small enough to commit), the events, and the reference's output records
    (no computed_at) on that same bundle: `qanchor embed` on it must reproduce them (cosine >= 0.99999, max-abs <=
    1e-4). With the check above (fp32 conversion == the authors' unconverted model) this closes the chain
    checkpoint -> converter -> bundle -> qanchor embed."""
    bundle_dir = os.path.join(dest, "bundle")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    subprocess.run([sys.executable, os.path.join(HERE, "convert_checkpoint.py"), "--checkpoint", ckpt,
                    "--qwen", qwen, "--gte", gte, "--out", bundle_dir, "--lora-r", str(R_LLM),
                    "--lora-alpha", str(ALPHA_LLM), "--encoder-lora-r", str(R_ENC),
                    "--encoder-lora-alpha", str(ALPHA_ENC), "--max-events", k_arg, "--max-text-tokens", t_arg,
                    "--scenarios", scen, "--name", "synthetic", "--dtype", "bfloat16"],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(events, os.path.join(dest, "events.jsonl"))
    bundle = ref.Bundle(bundle_dir)
    evs, bad = ref.read_events(events, bundle.manifest)
    assert not bad, bad
    selection, _ = ref.select_events(evs, bundle.manifest, NOW_MS, 0)
    records, _ = ref.embed_users(bundle, selection, NOW_MS)
    with open(os.path.join(dest, "expected.jsonl"), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write("Generated by `ops/model/test_convert.py --export testdata/converted` (do not edit): a synthetic "
                "checkpoint with the authors' structure converted by `ops/model/convert_checkpoint.py` "
                "(bfloat16), test events, and the PyTorch reference's records for them at now = "
                "2026-11-28T00:00:00Z, skew 0.\n")


def bad_inputs(tmp, ckpt, qwen, gte):
    """Broken checkpoints and arguments give a ConversionError naming the key and the expectation."""
    base = torch.load(ckpt, weights_only=False)
    plain_qwen = os.path.join(tmp, "qwen-plain-tokenizer")
    shutil.copytree(qwen, plain_qwen)
    shutil.copyfile(os.path.join(ROOT, "testdata/tokenizers/bpe/tokenizer.json"),
                    os.path.join(plain_qwen, "tokenizer.json"))

    def drop(section, key):
        return lambda c: c[section].pop(key)

    def reshape(section, key, shape):
        return lambda c: c[section].__setitem__(key, torch.zeros(shape))

    def rename_lora(c):
        lora = c["lora_state_dict"]
        for ab in "AB":
            lora[f"model.layers.9.self_attn.q_proj.lora_{ab}.default.weight"] = lora.pop(
                f"model.layers.0.self_attn.q_proj.lora_{ab}.default.weight")

    cases = [
        ("missing section", lambda c: c.pop("lora_state_dict"), [], "missing 'lora_state_dict'"),
        ("wrong LLM rank", None, ["--lora-r", str(R_LLM + 4)], f"with rank {R_LLM + 4}"),
        ("wrong encoder rank", None, ["--encoder-lora-r", "7"], "with rank 7"),
        ("LoRA without base weight", rename_lora, [], "the base has no 'model.layers.9.self_attn.q_proj.weight'"),
        ("lora_A alone", drop("lora_state_dict", "model.layers.1.mlp.up_proj.lora_B.default.weight"), [],
         "'model.layers.1.mlp.up_proj' has lora_A but not both"),
        ("adapter shape", reshape("modal_encoder_list_state_dict", "app.llm_adapter.mlp.2.weight", (D + 1, E)), [],
         "'app.llm_adapter.mlp.2.weight' has shape [25, 20], expected [24, 20]"),
        ("tabular missing", drop("modal_encoder_list_state_dict", "tabular.linear_for_prepose_pooling.bias"), [],
         "missing tensor 'tabular.linear_for_prepose_pooling.bias'"),
        ("projection missing", drop("model_state_low_dim_left", "fc_seq.2.weight"), [], "expected fc_seq.0.* and fc_seq.2.*"),
        ("tokenizer ids", None, ["--qwen", plain_qwen], "'<|bill_pad|>' got id 1203, the authors' code expects 151665"),
        ("bad override", None, ["--max-events", "bill=0"], "--max-events: expected key=positive integer"),
    ]
    failures = []
    for label, mutate, extra, message in cases:
        path = ckpt
        if mutate:
            broken = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
            mutate(broken)
            path = os.path.join(tmp, "broken.pth")
            torch.save(broken, path)
        argv = ["--checkpoint", path, "--qwen", qwen, "--gte", gte, "--out", os.path.join(tmp, "broken-bundle"),
                "--force", "--lora-r", str(R_LLM), "--lora-alpha", str(ALPHA_LLM), "--encoder-lora-r", str(R_ENC),
                "--encoder-lora-alpha", str(ALPHA_ENC)] + extra
        try:
            conv.convert(conv.parser().parse_args(argv))
            failures.append(f"bad input '{label}' was accepted")
        except conv.ConversionError as err:
            if message not in str(err):
                failures.append(f"bad input '{label}': message {str(err)!r} lacks {message!r}")
    return failures


def check(out, events, gte, model):
    """Compares the converted bundle (reference) with the authors'-style run of the unconverted model."""
    bundle = ref.Bundle(out)
    evs, bad = ref.read_events(events, bundle.manifest)
    assert not bad, bad
    selection, _ = ref.select_events(evs, bundle.manifest, NOW_MS, 0)
    records, _ = ref.embed_users(bundle, selection, NOW_MS)
    got = {(r["user_id"], r["scenario"]): torch.tensor(r["embedding"]) for r in records}

    btok = Tokenizer.from_file(os.path.join(out, "backbone", "tokenizer.json"))
    gtok = Tokenizer.from_file(os.path.join(gte, "tokenizer.json"))
    for i, t in enumerate(conv.PAD_TOKENS + conv.SPECIAL_TOKENS):
        assert btok.token_to_id(t) == 151665 + i, (t, btok.token_to_id(t))
    worst_cos, worst_abs, failures = 1.0, 0.0, []
    for user in USERS:
        for qi, query in enumerate(QUERIES):
            ids = btok.encode(authors_prompt(bundle.manifest, query), add_special_tokens=False).ids
            plan = bundle.prefix_plan()
            at = ids.index(151671)
            plan_ids = [x for x in plan if isinstance(x, int)]

            # the bundle's token ids (prefix without vectors + suffix + readout) equal the authors' prompt's,
            # with the placeholders removed from both
            pads = {151665 + j for j in range(6)}
            expect = [x for x in ids if x not in pads]
            mine = plan_ids + bundle.suffix_ids(f"q{qi}") + [bundle.readout_id]
            if expect != mine:
                failures.append(f"{user}/q{qi}: token ids differ")
            assert at == sum(1 for x in plan[: plan.index(("summary", 0))] if isinstance(x, int))
            direct = model.evaluate(torch.tensor([ids]), authors_batch(user, gtok))
            cos, mx = compare(got[(user, f"q{qi}")], direct)
            worst_cos, worst_abs = min(worst_cos, cos), max(worst_abs, mx)
            if cos < 0.99999 or mx > 1e-4:
                failures.append(f"{user}/q{qi}: cosine {cos:.7f}, max-abs {mx:.2e}")
    return {"pairs": len(USERS) * len(QUERIES), "worst_cosine": worst_cos, "worst_max_abs": worst_abs,
            "fingerprint": bundle.fingerprint, "failures": failures}


if __name__ == "__main__":
    sys.exit(main())

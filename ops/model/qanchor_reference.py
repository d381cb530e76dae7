#!/opt/qanchor/ref/bin/python
"""PyTorch reference of the whole Q-Anchor computation over a bundle (format v1, docs/bundle.md).

Mirrors the authors' released code (github.com/JhCircle/Q-Anchor, modeling.py) on top of `transformers`'
`Qwen2Model` and `BertModel`, with the `tokenizers` library for both tokenizers:

  event text --WordPiece (<= max_text_tokens, [CLS] ... [SEP])--> BertModel --last layer [CLS]--> h (E)
  per modality: K_m slots = adapter_m(h) for the selected events (oldest first), then adapter_m(0) for the padding
  tabular: Linear(F->D)(x) repeated `slots` times; its "mean" is Linear(F->E)(x); x = 0 without a snapshot
  modality token m = modal_adapter(masked mean of the raw h of m)        (tabular: Linear(F->E)(x))
  user token      = user_adapter(mean over all modalities of those means) (empty modalities count, as zeros)
  prefix  = the manifest's layout (text, special tokens, [user, modality tokens...], modality blocks)
  suffix  = tokens of suffix_template with the scenario's query, the soft prompt vectors, the readout token
  one full Qwen2Model pass over prefix + suffix (no KV cache) -> final-norm hidden at the readout token
  -> Linear(D->512) -> ReLU -> Linear(512->128) -> L2 -> u ; scores = softmax(u P^T / tau)
  text tower: text -> backbone -> final-norm hidden of the last token -> same projection -> L2

Also the bundle fingerprint (docs/bundle.md "Fingerprint"), manifest validation, JSONL event parsing and the
event selection `qanchor embed` applies (window, dedup, K_m newest, newest tabular snapshot).

Usage (run with /opt/qanchor/ref/bin/python; CI never needs it):
  qanchor_reference.py fingerprint BUNDLE
  qanchor_reference.py embed --bundle BUNDLE --events FILE.jsonl [--now TIME] [--skew-seconds S] [--scenario ID]...
  qanchor_reference.py embed-text --bundle BUNDLE TEXT...
"""
import argparse
import datetime as dt
import hashlib
import json
import math
import os
import posixpath
import re
import sys

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import BertConfig, BertModel, Qwen2Config, Qwen2Model  # noqa: E402

FORMAT_VERSION = 1
MANIFEST = "qanchor.json"
HEADS = "heads.safetensors"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
DAY_MS = 86_400_000
DEFAULT_SKEW_SECONDS = 300
SCENARIO_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
MODALITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class BundleError(Exception):
    """A bundle that does not satisfy format v1; the message names the file, the field and the expectation."""


# ----------------------------------------------------------------------------------------------------------------
# Manifest and fingerprint
# ----------------------------------------------------------------------------------------------------------------

def normalize_dir(value, field):
    """A bundle-relative directory: '/'-separated, no empty, '.' or '..' components, not absolute."""
    if not isinstance(value, str) or not value:
        raise BundleError(f"{MANIFEST}: '{field}': expected a non-empty relative directory, found {value!r}")
    parts = value.rstrip("/").split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in value:
        raise BundleError(f"{MANIFEST}: '{field}': expected a relative path inside the bundle without '.', '..' "
                          f"or empty components, found {value!r}")
    return "/".join(parts)


def fingerprint_files(manifest):
    """Bundle-relative paths of every file the model reads, sorted by their UTF-8 bytes, each once."""
    dirs = {normalize_dir(manifest.get("backbone", "backbone"), "backbone")}
    for i, m in enumerate(manifest["modalities"]):
        if m.get("kind") == "text":
            dirs.add(normalize_dir(m.get("encoder"), f"modalities[{i}].encoder"))
    files = {MANIFEST, HEADS} | {f"{d}/{f}" for d in dirs for f in MODEL_FILES}
    return sorted(files, key=lambda p: p.encode("utf-8"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint_listing(root):
    """The canonical listing: one line '<sha256 hex of the file>  <relative path>\\n' per file (sha256sum format)."""
    with open(os.path.join(root, MANIFEST), "rb") as f:
        manifest = json.loads(f.read().decode("utf-8"))
    lines = []
    for rel in fingerprint_files(manifest):
        path = os.path.join(root, *rel.split("/"))
        if not os.path.isfile(path):
            raise BundleError(f"{rel}: missing (every bundle file the model reads is part of the fingerprint)")
        lines.append(f"{sha256_file(path)}  {rel}\n")
    return "".join(lines).encode("utf-8")


def fingerprint(root):
    """'sha256:' + lowercase hex SHA-256 of the canonical listing."""
    return "sha256:" + hashlib.sha256(fingerprint_listing(root)).hexdigest()


def _positive_int(obj, key, where):
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise BundleError(f"{MANIFEST}: '{where}.{key}': expected a positive integer, found {v!r}")
    return v


def validate_manifest(m, token_id):
    """Structural checks of a parsed manifest (the Swift `BundleManifest.validate` makes the same ones).

    `token_id(str) -> int | None` looks a token up in the backbone tokenizer.
    """
    if m.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{MANIFEST}: 'format_version': expected {FORMAT_VERSION}, found {m.get('format_version')!r}")
    if not isinstance(m.get("name"), str) or not m["name"] or not isinstance(m.get("version"), str):
        raise BundleError(f"{MANIFEST}: 'name', 'version': expected strings (name non-empty)")
    normalize_dir(m.get("backbone", "backbone"), "backbone")
    eps = m.get("adapter_layer_norm_eps", 1e-6)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (eps > 0 and math.isfinite(eps)):
        raise BundleError(f"{MANIFEST}: 'adapter_layer_norm_eps': expected a positive number, found {eps!r}")
    mods = m.get("modalities")
    if not isinstance(mods, list) or not mods:
        raise BundleError(f"{MANIFEST}: 'modalities': expected a non-empty array")
    names = set()
    tabular = 0
    for i, mod in enumerate(mods):
        w = f"modalities[{i}]"
        name = mod.get("name")
        if not isinstance(name, str) or not MODALITY_NAME.fullmatch(name):
            raise BundleError(f"{MANIFEST}: '{w}.name': expected [a-z][a-z0-9_]*, found {name!r}")
        if name in names:
            raise BundleError(f"{MANIFEST}: '{w}.name': duplicate modality '{name}'")
        names.add(name)
        if mod.get("kind") == "text":
            _positive_int(mod, "max_events", w)
            if _positive_int(mod, "max_text_tokens", w) < 2:
                raise BundleError(f"{MANIFEST}: '{w}.max_text_tokens': expected >= 2 ([CLS] and [SEP])")
            normalize_dir(mod.get("encoder"), f"{w}.encoder")
        elif mod.get("kind") == "tabular":
            _positive_int(mod, "features", w)
            _positive_int(mod, "slots", w)
            tabular += 1
        else:
            raise BundleError(f"{MANIFEST}: '{w}.kind': expected 'text' or 'tabular', found {mod.get('kind')!r}")
        for key in ("start_token", "end_token", "pad_token"):
            if token_id(mod.get(key)) is None:
                raise BundleError(f"{MANIFEST}: '{w}.{key}': {mod.get(key)!r} is not a token of backbone/tokenizer.json")
    if tabular > 1:
        raise BundleError(f"{MANIFEST}: 'modalities': at most one tabular modality, found {tabular}")
    if not isinstance(m.get("window_days"), int) or m["window_days"] <= 0:
        raise BundleError(f"{MANIFEST}: 'window_days': expected a positive integer, found {m.get('window_days')!r}")
    readout = m.get("readout_token")
    if token_id(readout) is None:
        raise BundleError(f"{MANIFEST}: 'readout_token': {readout!r} is not a token of backbone/tokenizer.json")
    summary = 0
    blocks = {}
    for i, seg in enumerate(m.get("layout", [])):
        kind = seg.get("kind")
        if kind == "text":
            if not isinstance(seg.get("text"), str) or readout in seg["text"]:
                raise BundleError(f"{MANIFEST}: 'layout[{i}].text': expected a string without the readout token")
        elif kind == "special":
            if token_id(seg.get("token")) is None or seg.get("token") == readout:
                raise BundleError(f"{MANIFEST}: 'layout[{i}].token': {seg.get('token')!r} is not a token of "
                                  f"backbone/tokenizer.json (or is the readout token)")
        elif kind == "summary":
            summary += 1
        elif kind == "modality":
            if seg.get("modality") not in names:
                raise BundleError(f"{MANIFEST}: 'layout[{i}].modality': unknown modality {seg.get('modality')!r}")
            blocks[seg["modality"]] = blocks.get(seg["modality"], 0) + 1
        else:
            raise BundleError(f"{MANIFEST}: 'layout[{i}].kind': expected text, special, summary or modality, "
                              f"found {kind!r}")
    if summary != 1:
        raise BundleError(f"{MANIFEST}: 'layout': expected exactly one summary segment, found {summary}")
    for name in names:
        if blocks.get(name, 0) != 1:
            raise BundleError(f"{MANIFEST}: 'layout': expected exactly one block of modality '{name}', "
                              f"found {blocks.get(name, 0)}")
    tmpl = m.get("suffix_template")
    if not isinstance(tmpl, str) or tmpl.count("{query}") != 1 or readout in tmpl:
        raise BundleError(f"{MANIFEST}: 'suffix_template': expected a string with exactly one '{{query}}' and "
                          f"no readout token, found {tmpl!r}")
    tt = m.get("text_tower", {})
    if not isinstance(tt.get("template"), str) or tt["template"].count("{text}") != 1 or readout in tt["template"]:
        raise BundleError(f"{MANIFEST}: 'text_tower.template': expected a string with exactly one '{{text}}'")
    _positive_int(tt, "max_tokens", "text_tower")
    proj = m.get("projection", {})
    _positive_int(proj, "hidden", "projection")
    _positive_int(proj, "output", "projection")
    ids = set()
    for i, s in enumerate(m.get("scenarios", [])):
        w = f"scenarios[{i}]"
        if not isinstance(s.get("id"), str) or not SCENARIO_ID.fullmatch(s["id"]):
            raise BundleError(f"{MANIFEST}: '{w}.id': expected [A-Za-z0-9._-]{{1,200}}, found {s.get('id')!r}")
        if s["id"] in ids:
            raise BundleError(f"{MANIFEST}: '{w}.id': duplicate scenario '{s['id']}'")
        ids.add(s["id"])
        if not isinstance(s.get("query"), str):
            raise BundleError(f"{MANIFEST}: '{w}.query': expected a string")
        for key in ("soft_prompt", "prototypes"):
            if s.get(key) is not None and (not isinstance(s[key], str) or not s[key]):
                raise BundleError(f"{MANIFEST}: '{w}.{key}': expected a tensor name, found {s[key]!r}")
        if s.get("prototypes") is None and (s.get("labels") is not None or s.get("tau") is not None):
            raise BundleError(f"{MANIFEST}: '{w}': labels and tau need prototypes")
        if s.get("prototypes") is not None:
            labels = s.get("labels")
            if not isinstance(labels, list) or not labels or len(set(labels)) != len(labels):
                raise BundleError(f"{MANIFEST}: '{w}.labels': expected distinct strings, one per prototype")
            tau = s.get("tau")
            if not isinstance(tau, (int, float)) or isinstance(tau, bool) or not (tau > 0 and math.isfinite(tau)):
                raise BundleError(f"{MANIFEST}: '{w}.tau': expected a positive number, found {tau!r}")
    if not ids:
        raise BundleError(f"{MANIFEST}: 'scenarios': expected at least one scenario")


def expected_heads(manifest, d_model, e_dim):
    """{tensor name: shape} that heads.safetensors must hold: exactly these, no more (docs/bundle.md)."""
    out = {}

    def adapter(prefix):
        out.update({f"{prefix}.norm.weight": [e_dim], f"{prefix}.norm.bias": [e_dim],
                    f"{prefix}.fc1.weight": [e_dim, e_dim], f"{prefix}.fc1.bias": [e_dim],
                    f"{prefix}.fc2.weight": [d_model, e_dim], f"{prefix}.fc2.bias": [d_model]})
    for m in manifest["modalities"]:
        if m["kind"] == "text":
            adapter(f"adapters.event.{m['name']}")
        else:
            t = f"tabular.{m['name']}"
            out.update({f"{t}.slot.weight": [d_model, m["features"]], f"{t}.slot.bias": [d_model],
                        f"{t}.mean.weight": [e_dim, m["features"]], f"{t}.mean.bias": [e_dim]})
    adapter("adapters.modal")
    adapter("adapters.user")
    h, o = manifest["projection"]["hidden"], manifest["projection"]["output"]
    out.update({"projection.fc1.weight": [h, d_model], "projection.fc1.bias": [h],
                "projection.fc2.weight": [o, h], "projection.fc2.bias": [o]})
    for s in manifest["scenarios"]:
        if s.get("soft_prompt"):
            out[s["soft_prompt"]] = [None, d_model]          # n rows, n >= 1
        if s.get("prototypes"):
            out[s["prototypes"]] = [len(s["labels"]), o]
    return out


def check_tensors(bundle):
    """Tensor-level checks (what the Swift loader must also check); returns the encoder width E."""
    m = bundle.manifest
    widths = {d: enc.config.hidden_size for d, enc in bundle.encoders.items()}
    if len(set(widths.values())) > 1:
        raise BundleError(f"encoders: every encoder must have the same hidden_size (the modal adapter is shared), "
                          f"found {widths}")
    if widths:
        e_dim = next(iter(widths.values()))
    else:
        e_dim = bundle.heads["adapters.modal.norm.weight"].shape[0]
    for i, mod in enumerate(bundle.modalities):
        if mod["kind"] == "text":
            d = normalize_dir(mod["encoder"], "encoder")
            limit = bundle.encoders[d].config.max_position_embeddings
            if mod["max_text_tokens"] > limit:
                raise BundleError(f"{MANIFEST}: 'modalities[{i}].max_text_tokens': expected <= {limit} "
                                  f"({d}/config.json max_position_embeddings), found {mod['max_text_tokens']}")
    vocab = bundle.backbone.config.vocab_size
    top = max(bundle.tok.get_vocab(with_added_tokens=True).values())
    if top >= vocab:
        raise BundleError(f"{bundle.backbone_dir}/config.json: 'vocab_size' {vocab} has no row for token id {top} "
                          f"of {bundle.backbone_dir}/tokenizer.json")
    want = expected_heads(m, bundle.d_model, e_dim)
    extra = sorted(set(bundle.heads) - set(want))
    if extra:
        raise BundleError(f"{HEADS}: unexpected tensors {extra}")
    for name, shape in want.items():
        if name not in bundle.heads:
            raise BundleError(f"{HEADS}: missing tensor '{name}' (expected shape {shape})")
        found = list(bundle.heads[name].shape)
        if len(found) != len(shape) or any(w is not None and w != f for w, f in zip(shape, found)) or 0 in found:
            raise BundleError(f"{HEADS}: tensor '{name}' has shape {found}, expected "
                              f"{['n' if w is None else w for w in shape]}")
    return e_dim


# ----------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------

def _strip(state, prefixes):
    out = {}
    for k, v in state.items():
        for p in prefixes:
            if p and k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v.float()
    return out


def load_qwen2(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = Qwen2Config(**json.load(f))
    cfg._attn_implementation = "eager"
    model = Qwen2Model(cfg).float().eval()
    state = _strip(load_file(os.path.join(directory, "model.safetensors")), ["model."])
    state.pop("lm_head.weight", None)
    model.load_state_dict(state, strict=True)
    return model


def load_bert(directory):
    with open(os.path.join(directory, "config.json")) as f:
        cfg = BertConfig(**json.load(f))
    cfg._attn_implementation = "eager"
    model = BertModel(cfg, add_pooling_layer=False).float().eval()
    state = _strip(load_file(os.path.join(directory, "model.safetensors")), ["bert."])
    state = {k: v for k, v in state.items() if not k.startswith("pooler.") and not k.endswith("position_ids")}
    model.load_state_dict(state, strict=True)
    return model


class Bundle:
    """A loaded bundle: manifest, backbone, encoders (one per distinct directory), heads."""

    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, MANIFEST), "rb") as f:
            self.manifest = m = json.loads(f.read().decode("utf-8"))
        self.backbone_dir = normalize_dir(m.get("backbone", "backbone"), "backbone")
        self.tok = Tokenizer.from_file(os.path.join(root, self.backbone_dir, "tokenizer.json"))
        validate_manifest(m, lambda t: self.tok.token_to_id(t) if isinstance(t, str) else None)
        self.backbone = load_qwen2(os.path.join(root, self.backbone_dir))
        self.embed_table = self.backbone.embed_tokens.weight.detach()
        self.d_model = self.embed_table.shape[1]
        self.modalities = m["modalities"]
        self.by_name = {mod["name"]: mod for mod in self.modalities}
        self.encoders, self.encoder_tokenizers = {}, {}
        for mod in self.modalities:
            if mod["kind"] != "text":
                continue
            d = normalize_dir(mod["encoder"], "encoder")
            if d not in self.encoders:
                self.encoders[d] = load_bert(os.path.join(root, d))
                self.encoder_tokenizers[d] = Tokenizer.from_file(os.path.join(root, d, "tokenizer.json"))
        self.heads = {k: v.float() for k, v in load_file(os.path.join(root, HEADS)).items()}
        self.encoder_dim = check_tensors(self)
        self.readout_id = self.tok.token_to_id(m["readout_token"])
        self.scenarios = {s["id"]: s for s in m["scenarios"]}
        self.fingerprint = fingerprint(root)

    # -- event vectors ---------------------------------------------------------------------------------------

    def event_ids(self, modality, text):
        mod = self.by_name[modality]
        tok = self.encoder_tokenizers[normalize_dir(mod["encoder"], "encoder")]
        ids = tok.encode(text).ids
        limit = mod["max_text_tokens"]
        if len(ids) > limit:  # keep [CLS] + the first limit-2 tokens + [SEP] (tokenizers' truncation)
            ids = ids[: limit - 1] + ids[-1:]
        return ids

    @torch.no_grad()
    def event_vector(self, modality, text):
        """h: the last-layer [CLS] vector of the modality's encoder (authors: last_hidden_state[:, 0])."""
        ids = self.event_ids(modality, text)
        enc = self.encoders[normalize_dir(self.by_name[modality]["encoder"], "encoder")]
        out = enc(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        return ids, out.last_hidden_state[0, 0]

    # -- heads -----------------------------------------------------------------------------------------------

    def adapter(self, prefix, x):
        """LLMAdapter: LayerNorm(E, eps) -> Linear(E, E) -> GELU (erf) -> Linear(E, D)."""
        h = self.heads
        eps = self.manifest.get("adapter_layer_norm_eps", 1e-6)
        y = F.layer_norm(x, (x.shape[-1],), h[f"{prefix}.norm.weight"], h[f"{prefix}.norm.bias"], eps)
        y = F.gelu(F.linear(y, h[f"{prefix}.fc1.weight"], h[f"{prefix}.fc1.bias"]))
        return F.linear(y, h[f"{prefix}.fc2.weight"], h[f"{prefix}.fc2.bias"])

    def project(self, hidden):
        """low_dim_mlp_left: Linear(D, hidden) -> ReLU -> Linear(hidden, output), then L2 if `normalize`."""
        h = self.heads
        y = F.relu(F.linear(hidden, h["projection.fc1.weight"], h["projection.fc1.bias"]))
        y = F.linear(y, h["projection.fc2.weight"], h["projection.fc2.bias"])
        return F.normalize(y, p=2, dim=-1) if self.manifest.get("normalize", True) else y

    # -- user tokens -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def user_tokens(self, history):
        """history[modality] = list of h (oldest first) for text modalities, a feature list or None for tabular.

        Returns (summary [1+M, D], blocks {modality: [slots, D]}, valid {modality: number of real slots}).
        """
        E = self.encoder_dim
        means, blocks, valid = [], {}, {}
        for mod in self.modalities:
            name = mod["name"]
            if mod["kind"] == "text":
                hs = history.get(name) or []
                K = mod["max_events"]
                assert len(hs) <= K
                total = torch.zeros(K, E)
                if hs:
                    total[: len(hs)] = torch.stack(hs)
                mask = torch.zeros(K)
                mask[: len(hs)] = 1
                blocks[name] = self.adapter(f"adapters.event.{name}", total)
                # authors' mean_pooling: sum(x * mask) / clamp(sum(mask), 1e-9)
                means.append((total * mask[:, None]).sum(0) / torch.clamp(mask.sum(), min=1e-9))
                valid[name] = len(hs)
            else:
                feats = history.get(name)
                x = torch.tensor(feats, dtype=torch.float32) if feats is not None else torch.zeros(mod["features"])
                h = self.heads
                slot = F.linear(x, h[f"tabular.{name}.slot.weight"], h[f"tabular.{name}.slot.bias"])
                blocks[name] = slot.unsqueeze(0).expand(mod["slots"], slot.shape[0])
                means.append(F.linear(x, h[f"tabular.{name}.mean.weight"], h[f"tabular.{name}.mean.bias"]))
                valid[name] = mod["slots"]
        stacked = torch.stack(means)                   # [M, E]
        modal_tokens = self.adapter("adapters.modal", stacked)
        user_token = self.adapter("adapters.user", stacked.mean(0))
        return torch.cat([user_token.unsqueeze(0), modal_tokens]), blocks, valid

    # -- sequence --------------------------------------------------------------------------------------------

    def text_ids(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids if text else []

    def prefix_plan(self):
        """The prefix as a list of items: int token ids, ('summary', i) and ('event', modality, slot)."""
        items = []
        for seg in self.manifest["layout"]:
            kind = seg["kind"]
            if kind == "text":
                items += self.text_ids(seg["text"])
            elif kind == "special":
                items.append(self.tok.token_to_id(seg["token"]))
            elif kind == "summary":
                items += [("summary", i) for i in range(1 + len(self.modalities))]
            else:
                mod = self.by_name[seg["modality"]]
                n = mod["max_events"] if mod["kind"] == "text" else mod["slots"]
                items.append(self.tok.token_to_id(mod["start_token"]))
                items += [("event", mod["name"], j) for j in range(n)]
                items.append(self.tok.token_to_id(mod["end_token"]))
        return items

    def suffix_ids(self, scenario_id):
        s = self.scenarios[scenario_id]
        return self.text_ids(self.manifest["suffix_template"].replace("{query}", s["query"]))

    def soft_prompt(self, scenario_id):
        name = self.scenarios[scenario_id].get("soft_prompt")
        return self.heads[name] if name else torch.zeros(0, self.d_model)

    @torch.no_grad()
    def prefix_embeddings(self, summary, blocks, valid):
        rows, visible = [], []
        hide = not self.manifest.get("padding_visible", True)
        for item in self.prefix_plan():
            if isinstance(item, int):
                rows.append(self.embed_table[item])
                visible.append(1)
            elif item[0] == "summary":
                rows.append(summary[item[1]])
                visible.append(1)
            else:
                rows.append(blocks[item[1]][item[2]])
                visible.append(0 if hide and item[2] >= valid[item[1]] else 1)
        return torch.stack(rows), visible

    @torch.no_grad()
    def run_scenario(self, prefix, visible, scenario_id):
        """One full forward pass over prefix + suffix; returns (hidden at the readout token, u, scores)."""
        ids = self.suffix_ids(scenario_id)
        suffix = [self.embed_table[ids]] if ids else []
        seq = torch.cat([prefix] + suffix + [self.soft_prompt(scenario_id), self.embed_table[[self.readout_id]]])
        mask = None
        if not all(visible):
            mask = torch.tensor([visible + [1] * (seq.shape[0] - len(visible))])
        hidden = self.backbone(inputs_embeds=seq.unsqueeze(0), attention_mask=mask).last_hidden_state[0, -1]
        u = self.project(hidden)
        s = self.scenarios[scenario_id]
        scores = None
        if s.get("prototypes"):
            logits = u @ self.heads[s["prototypes"]].T / s["tau"]
            scores = dict(zip(s["labels"], torch.softmax(logits, dim=-1).tolist()))
        return hidden, u, scores

    @torch.no_grad()
    def text_tower(self, text):
        tt = self.manifest["text_tower"]
        ids = self.text_ids(tt["template"].replace("{text}", text))[: tt["max_tokens"]]
        if not ids:
            raise ValueError("text tower: the text gives no tokens")
        hidden = self.backbone(inputs_embeds=self.embed_table[ids].unsqueeze(0)).last_hidden_state[0, -1]
        return ids, hidden, self.project(hidden)


# ----------------------------------------------------------------------------------------------------------------
# Events: parsing and selection (what `qanchor embed` does before the model)
# ----------------------------------------------------------------------------------------------------------------

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$", re.ASCII)


def parse_time_ms(value):
    """Epoch milliseconds from an integral JSON number (ms) or an RFC 3339 string (fraction truncated to ms). None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2 ** 63) <= value < 2 ** 63 else None
    if isinstance(value, float):  # JSON has one number type: 1.7643e12 is an integer too
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) <= 2 ** 53 else None
    if not isinstance(value, str):
        return None
    m = RFC3339.fullmatch(value)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        base = dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    if h > 23 or mi > 59 or s > 59:
        return None
    ms = int(base.timestamp()) * 1000 + (int((m.group(7) or "0").ljust(3, "0")[:3]))
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        zh, zm = int(zone[1:3]), int(zone[4:6])
        if zh > 23 or zm > 59:
            return None
        ms -= sign * (zh * 60 + zm) * 60_000
    return ms


def _finite_as_float32(v):
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.float32(v)))


def _first_wins(pairs):
    """A key given twice: the first value counts (what Swift's JSONDecoder does)."""
    out = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def _has_lone_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def parse_event_line(line, manifest):
    """One JSONL line -> event dict, or raises ValueError with the reason."""
    try:
        obj = json.loads(line, parse_constant=_reject_constant, object_pairs_hook=_first_wins)
    except ValueError as e:
        raise ValueError(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    if _has_lone_surrogate(obj):
        raise ValueError("malformed JSON: a \\u escape encodes a lone surrogate (not Unicode text)")
    mods = {m["name"]: m for m in manifest["modalities"]}
    modality = obj.get("modality")
    if modality not in mods:
        raise ValueError(f"'modality': unknown modality {modality!r}")
    for key in ("event_id", "user_id"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ValueError(f"'{key}': expected a non-empty string")
    ts = parse_time_ms(obj.get("ts"))
    if ts is None:
        raise ValueError(f"'ts': expected epoch milliseconds or an RFC 3339 time, found {obj.get('ts')!r}")
    event = {"modality": modality, "event_id": obj["event_id"], "user_id": obj["user_id"], "ts": ts}
    mod = mods[modality]
    if mod["kind"] == "text":
        if not isinstance(obj.get("text"), str):
            raise ValueError("'text': expected a string")
        event["text"] = obj["text"]
    else:
        feats = obj.get("features")
        if not isinstance(feats, list) or len(feats) != mod["features"]:
            raise ValueError(f"'features': expected an array of {mod['features']} numbers")
        for v in feats:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or not _finite_as_float32(v):
                raise ValueError("'features': expected finite numbers (in float32 range)")
        event["features"] = [float(v) for v in feats]
    return event


def read_events(path, manifest):
    """(events in file order with their line numbers, bad lines [(line, reason)]). Blank lines are skipped; a
    byte-order mark is allowed at the start of the file only (elsewhere the line is malformed JSON)."""
    events, bad = [], []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad.append((n, "invalid UTF-8"))
                continue
            if n == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if not line.strip():
                continue
            try:
                e = parse_event_line(line, manifest)
            except ValueError as err:
                bad.append((n, str(err)))
                continue
            e["line"] = n
            events.append(e)
    return events, bad


def _order_key(e):
    return (e["ts"], e["event_id"].encode("utf-8"))


def select_events(events, manifest, now_ms, skew_ms):
    """The selection `qanchor embed` applies, in this order:

    1. window: keep ts in [now - window_days, now + skew] (both ends included);
    2. dedup: the first line (file order) with a given (modality, event_id) wins, later ones are dropped;
    3. per user and text modality: the max_events newest by (ts, event_id as UTF-8 bytes), kept oldest first;
    4. per user, tabular: the newest snapshot by the same order.
    Every user seen on a parsed line gets a result (possibly all empty).
    Returns ({user: {modality: [events]}}, dropped [(line, reason)]).
    """
    lo, hi = now_ms - manifest["window_days"] * DAY_MS, now_ms + skew_ms
    seen, dropped = set(), []
    per_user = {}
    for e in events:
        per_user.setdefault(e["user_id"], {m["name"]: [] for m in manifest["modalities"]})
        if not lo <= e["ts"] <= hi:
            dropped.append((e["line"], "outside the window"))
            continue
        key = (e["modality"], e["event_id"])
        if key in seen:
            dropped.append((e["line"], "duplicate event_id"))
            continue
        seen.add(key)
        per_user[e["user_id"]][e["modality"]].append(e)
    for user in per_user.values():
        for mod in manifest["modalities"]:
            evs = sorted(user[mod["name"]], key=_order_key)
            keep = mod["max_events"] if mod["kind"] == "text" else 1
            user[mod["name"]] = evs[-keep:] if evs else []
    return per_user, dropped


# ----------------------------------------------------------------------------------------------------------------
# embed
# ----------------------------------------------------------------------------------------------------------------

def embed_users(bundle, selection, now_ms, scenario_ids=None, h_cache=None):
    """Output records (docs/daemon.md "Output record", minus computed_at) sorted by user then scenario, plus per-user internals."""
    m = bundle.manifest
    scenario_ids = sorted(scenario_ids or bundle.scenarios.keys(), key=lambda s: s.encode("utf-8"))
    h_cache = {} if h_cache is None else h_cache
    records, internals = [], {}
    for user in sorted(selection, key=lambda u: u.encode("utf-8")):
        chosen = selection[user]
        history = {}
        for mod in bundle.modalities:
            evs = chosen[mod["name"]]
            if mod["kind"] == "text":
                hs = []
                for e in evs:
                    key = (mod["name"], e["text"])
                    if key not in h_cache:
                        h_cache[key] = bundle.event_vector(mod["name"], e["text"])
                    hs.append(h_cache[key][1])
                history[mod["name"]] = hs
            else:
                history[mod["name"]] = evs[0]["features"] if evs else None
        summary, blocks, valid = bundle.user_tokens(history)
        prefix, visible = bundle.prefix_embeddings(summary, blocks, valid)
        all_ts = [e["ts"] for evs in chosen.values() for e in evs]
        internals[user] = {"summary": summary, "blocks": blocks, "prefix_length": prefix.shape[0], "scenarios": {}}
        for sid in scenario_ids:
            hidden, u, scores = bundle.run_scenario(prefix, visible, sid)
            internals[user]["scenarios"][sid] = {"hidden": hidden, "embedding": u, "scores": scores}
            rec = {"user_id": user, "scenario": sid, "dim": int(u.shape[0]), "embedding": u.tolist()}
            if scores is not None:
                rec["scores"] = scores
            rec["model"] = {"name": m["name"], "version": m["version"], "fingerprint": bundle.fingerprint}
            rec["version"] = 1
            rec["event_time"] = max(all_ts) if all_ts else None
            rec["window_start"] = now_ms - m["window_days"] * DAY_MS
            records.append(rec)
    return records, internals


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fingerprint")
    p.add_argument("bundle")
    p.add_argument("--listing", action="store_true", help="print the canonical listing too")
    p = sub.add_parser("embed")
    p.add_argument("--bundle", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--now", help="epoch ms or RFC 3339 (default: the current time)")
    p.add_argument("--skew-seconds", type=int, default=DEFAULT_SKEW_SECONDS)
    p.add_argument("--scenario", action="append")
    p = sub.add_parser("embed-text")
    p.add_argument("--bundle", required=True)
    p.add_argument("texts", nargs="+")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)  # the goldens are made on one thread: same reduction order, same bits
    if args.cmd == "fingerprint":
        if args.listing:
            sys.stdout.write(fingerprint_listing(args.bundle).decode("utf-8"))
        print(fingerprint(args.bundle))
        return 0
    bundle = Bundle(args.bundle)
    if args.cmd == "embed-text":
        for text in args.texts:
            ids, _, u = bundle.text_tower(text)
            print(json.dumps({"text": text, "dim": len(u), "embedding": u.tolist(), "tokens": len(ids)},
                             ensure_ascii=False))
        return 0
    now = parse_time_ms(args.now) if args.now else int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    if now is None:
        ap.error(f"--now: expected epoch ms or RFC 3339, found {args.now!r}")
    events, bad = read_events(args.events, bundle.manifest)
    for n, reason in bad:
        print(f"{args.events}:{n}: {reason}", file=sys.stderr)
    unknown = [s for s in args.scenario or [] if s not in bundle.scenarios]
    if unknown:
        ap.error(f"--scenario: unknown scenario {unknown[0]!r}")
    selection, _ = select_events(events, bundle.manifest, now, args.skew_seconds * 1000)
    records, _ = embed_users(bundle, selection, now, args.scenario)
    computed_at = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    for r in records:
        print(json.dumps({**r, "computed_at": computed_at}, ensure_ascii=False))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/opt/qanchor/ref/bin/python
"""Self-checks of ops/model/qanchor_reference.py on the committed tiny bundle (run before regenerating goldens).

- the fingerprint listing verifies with `sha256sum -c` and its hash is the fingerprint;
- tensor-level validation refuses broken bundles with messages naming the tensor or field;
- `padding_visible: false` changes only users that have padding (a user whose every text slot is filled and the
  visible version agree), and the KV-free full pass equals a prefix pass + suffix pass with transformers' cache.

Usage: /opt/qanchor/ref/bin/python ops/model/test_reference.py   (exit code 0 = pass)
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import qanchor_reference as ref  # noqa: E402

TINY = os.path.join(ROOT, "testdata", "models", "tiny")


def check_fingerprint(failures):
    listing = ref.fingerprint_listing(TINY)
    if "sha256:" + hashlib.sha256(listing).hexdigest() != ref.fingerprint(TINY):
        failures.append("fingerprint is not the hash of the listing")
    run = subprocess.run(["sha256sum", "-c", "-"], input=listing, cwd=TINY, capture_output=True)
    if run.returncode != 0:
        failures.append(f"sha256sum -c refused the listing: {run.stdout.decode()} {run.stderr.decode()}")
    with open(os.path.join(ROOT, "testdata/goldens/tiny/bundle.json")) as f:
        if json.load(f)["fingerprint"] != ref.fingerprint(TINY):
            failures.append("the golden fingerprint is stale: rerun make_test_bundle.py")


def check_validation(failures, tmp):
    heads = load_file(os.path.join(TINY, ref.HEADS))
    cases = [
        ("soft prompt width", lambda h: h.__setitem__("scenarios.credit_risk.soft_prompt", torch.zeros(4, 47)), None,
         "'scenarios.credit_risk.soft_prompt' has shape [4, 47], expected ['n', 48]"),
        ("missing tensor", lambda h: h.pop("adapters.event.spm.fc2.bias"), None,
         "missing tensor 'adapters.event.spm.fc2.bias'"),
        ("extra tensor", lambda h: h.__setitem__("extra", torch.zeros(1)), None, "unexpected tensors ['extra']"),
        ("F mismatch", None, lambda m: m["modalities"][5].__setitem__("features", 8),
         "'tabular.tabular.slot.weight' has shape [48, 7], expected [48, 8]"),
        ("labels vs prototypes", None, lambda m: m["scenarios"][0].__setitem__("labels", ["a", "b"]),
         "'scenarios.credit_risk.prototypes' has shape [3, 128], expected [2, 128]"),
        ("token limit", None, lambda m: m["modalities"][0].__setitem__("max_text_tokens", 100),
         "'modalities[0].max_text_tokens': expected <= 40"),
        ("unknown token", None, lambda m: m["modalities"][3].__setitem__("start_token", "<|search_start|>"),
         "'modalities[3].start_token': '<|search_start|>' is not a token"),
        ("missing block", None, lambda m: m["layout"].pop(7), "expected exactly one block of modality 'search'"),
        ("template", None, lambda m: m.__setitem__("suffix_template", "Query"), "'suffix_template'"),
        ("version", None, lambda m: m.__setitem__("format_version", 2), "'format_version': expected 1, found 2"),
    ]
    for label, edit_heads, edit_manifest, message in cases:
        d = os.path.join(tmp, "bad")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(TINY, d)
        if edit_heads:
            h = dict(heads)
            edit_heads(h)
            save_file(h, os.path.join(d, ref.HEADS))
        if edit_manifest:
            with open(os.path.join(d, ref.MANIFEST)) as f:
                m = json.load(f)
            edit_manifest(m)
            with open(os.path.join(d, ref.MANIFEST), "w") as f:
                json.dump(m, f)
        try:
            ref.Bundle(d)
            failures.append(f"{label}: accepted")
        except ref.BundleError as err:
            if message not in str(err):
                failures.append(f"{label}: {err} lacks {message!r}")


@torch.no_grad()
def check_padding_and_cache(failures, tmp):
    d = os.path.join(tmp, "hidden-padding")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(TINY, d)
    with open(os.path.join(d, ref.MANIFEST)) as f:
        m = json.load(f)
    m["padding_visible"] = False
    with open(os.path.join(d, ref.MANIFEST), "w") as f:
        json.dump(m, f)
    visible, hidden = ref.Bundle(TINY), ref.Bundle(d)
    g = torch.Generator().manual_seed(0)
    E = visible.encoder_dim
    full = {mod["name"]: [torch.randn(E, generator=g) for _ in range(mod["max_events"])]
            for mod in visible.modalities if mod["kind"] == "text"}
    full["tabular"] = [0.5] * 7
    partial = dict(full, bill=full["bill"][:2])
    for label, history, same in (("every slot filled", full, True), ("padding", partial, False)):
        outs = []
        for b in (visible, hidden):
            summary, blocks, valid = b.user_tokens(history)
            prefix, vis = b.prefix_embeddings(summary, blocks, valid)
            outs.append(b.run_scenario(prefix, vis, "credit_risk")[1])
        diff = float((outs[0] - outs[1]).abs().max())
        if same and diff != 0.0:
            failures.append(f"padding_visible=false changed a user without padding ({diff})")
        if not same and diff < 1e-4:
            failures.append(f"padding_visible=false did not change a user with padding ({diff})")

    # KV-free full pass == prefix pass + suffix pass on transformers' cache
    summary, blocks, valid = visible.user_tokens(partial)
    prefix, vis = visible.prefix_embeddings(summary, blocks, valid)
    full_hidden = visible.run_scenario(prefix, vis, "credit_risk")[0]
    ids = visible.suffix_ids("credit_risk")
    suffix = torch.cat([visible.embed_table[ids], visible.soft_prompt("credit_risk"),
                        visible.embed_table[[visible.readout_id]]])
    out = visible.backbone(inputs_embeds=prefix.unsqueeze(0), use_cache=True)
    n = prefix.shape[0]
    cached = visible.backbone(inputs_embeds=suffix.unsqueeze(0), past_key_values=out.past_key_values,
                              position_ids=torch.arange(n, n + suffix.shape[0]).unsqueeze(0),
                              use_cache=True).last_hidden_state[0, -1]
    diff = float((full_hidden - cached).abs().max())
    if diff > 1e-5:
        failures.append(f"full pass and cached pass differ by {diff}")


def main():
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' past_key_values rename
    torch.set_num_threads(1)
    failures = []
    tmp = tempfile.mkdtemp(prefix="qanchor-ref-")
    try:
        check_fingerprint(failures)
        check_validation(failures, tmp)
        check_padding_and_cache(failures, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"failures": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

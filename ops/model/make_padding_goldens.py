#!/usr/bin/env python3
"""Goldens for the tiny bundle with `padding_visible: false` (padding slots masked out of attention, positions kept).

Copies testdata/models/tiny to a temporary directory, sets `padding_visible` to false in its manifest, and runs the
PyTorch reference (ops/model/qanchor_reference.py: transformers' Qwen2Model with a 2-D attention mask) on
testdata/events/users.jsonl at the tiny goldens' fixed time. Writes testdata/goldens/tiny/embed-users-padding-hidden.jsonl
(same record format as embed-users.jsonl; the model fingerprint is the edited copy's).

    /opt/qanchor/ref/bin/python ops/model/make_padding_goldens.py
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_bundle as mtb  # noqa: E402
import qanchor_reference as ref  # noqa: E402
import torch  # noqa: E402


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = os.path.join(tmp, "tiny")
        shutil.copytree(os.path.join(root, "testdata", "models", "tiny"), bundle_dir)
        manifest_path = os.path.join(bundle_dir, ref.MANIFEST)
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        manifest["padding_visible"] = False
        mtb.write_json(manifest_path, manifest)
        bundle = ref.Bundle(bundle_dir)
        now_ms = ref.parse_time_ms(mtb.NOW)
        events = os.path.join(root, "testdata", "events", "users.jsonl")
        _, _, _, records = mtb.golden_file(bundle, events, now_ms, {})
    out = os.path.join(root, "testdata", "goldens", "tiny", "embed-users-padding-hidden.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    # Sanity: the mask must matter for users with padding (every user of users.jsonl has some).
    with open(os.path.join(root, "testdata", "goldens", "tiny", "embed-users.jsonl"), encoding="utf-8") as f:
        visible = [json.loads(line) for line in f]
    differ = sum(1 for a, b in zip(records, visible)
                 if max(abs(x - y) for x, y in zip(a["embedding"], b["embedding"])) > 1e-3)
    print(f"wrote {out}: {len(records)} records, {differ} differ from padding-visible by > 1e-3")
    return 0 if differ > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

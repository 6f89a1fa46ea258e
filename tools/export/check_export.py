"""Checks that a model directory our pipeline exported is a Hugging Face one, in PyTorch.

    /usr/bin/python3 tools/export/check_export.py <model dir> [our_logits.json]

Loads `config.json` and `model.safetensors` into the plain-PyTorch `BertForTokenClassification`
of tools/hf_bert.py with `load_state_dict(strict=True)` (every name and shape must be exactly
what Hugging Face expects, no more, no fewer; a CRF head's `crf.*` tensors, which
`from_pretrained` ignores, are checked apart), checks the config fields `from_pretrained` and
pipelines read (`model_type`, `architectures`, `id2label`/`label2id`) and the tokenizer files,
then compares PyTorch's logits with ours (written by tools/export/our_logits.ts; default
`<model dir>/our_logits.json`). Exit status 1 on any difference above 1e-4.
"""

import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/hf_bert.py
from hf_bert import BertConfig, BertForTokenClassification, read_safetensors  # noqa: E402

TOLERANCE = 1e-4


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: check_export.py <model dir> [our_logits.json]")
    d = sys.argv[1]
    ours_path = sys.argv[2] if len(sys.argv) == 3 else os.path.join(d, "our_logits.json")
    problems = []

    with open(os.path.join(d, "config.json")) as f:
        raw = json.load(f)
    if raw.get("model_type") != "bert":
        problems.append(f"model_type is {raw.get('model_type')!r}")
    if raw.get("architectures") != ["BertForTokenClassification"]:
        problems.append(f"architectures is {raw.get('architectures')!r}")
    id2label = raw.get("id2label", {})
    label2id = raw.get("label2id", {})
    if {v: int(k) for k, v in id2label.items()} != label2id:
        problems.append("id2label and label2id disagree")
    has_tokenizer = os.path.exists(os.path.join(d, "tokenizer.json")) or os.path.exists(
        os.path.join(d, "vocab.txt")
    )
    if not has_tokenizer:
        problems.append("no tokenizer.json or vocab.txt")

    config = BertConfig(raw)
    model = BertForTokenClassification(config).eval()
    state = read_safetensors(os.path.join(d, "model.safetensors"))
    # A CRF head's scores (`nerpipe_head: crf`, docs/crf.md) are tensors of their own, which
    # BertForTokenClassification does not have: from_pretrained leaves them out as unused
    # weights, and so does this check, after checking their shapes.
    if raw.get("nerpipe_head") == "crf":
        n = config.num_labels
        for name, shape in (("crf.transitions", [n, n]), ("crf.start_transitions", [n]),
                            ("crf.end_transitions", [n])):
            t = state.pop(name, None)
            if t is None or list(t.shape) != shape:
                found = "missing" if t is None else f"of shape {list(t.shape)}"
                problems.append(f"CRF tensor {name} is {found}, expected {shape}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        problems.append(f"load_state_dict(strict=True) failed: {e}")
        print("\n".join(problems))
        sys.exit(1)
    print(f"{d}: {len(state)} tensors, names and shapes as BertForTokenClassification, "
          f"{config.num_labels} labels")

    with open(ours_path) as f:
        ours = json.load(f)
    for case in ours["cases"]:
        ids = torch.tensor(case["ids"], dtype=torch.int64)
        mask = torch.tensor(case["mask"], dtype=torch.int64)
        with torch.no_grad():
            _, logits = model(ids, mask)
        diff = (logits - torch.tensor(case["logits"], dtype=torch.float32)).abs().max().item()
        print(f"  {case['name']}: max |PyTorch - ours| = {diff:.2e}")
        if not diff < TOLERANCE:
            problems.append(f"{case['name']}: logits differ by {diff}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()

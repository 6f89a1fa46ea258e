"""PyTorch reference for `deno task bench --serve`: the same weights, predicting the same texts.

Loads a model directory (config.json, model.safetensors) into the plain-PyTorch
BertForTokenClassification of tools/hf_bert.py (Hugging Face's names, strict), then, in eval mode
under torch.inference_mode(), runs a plain loop over the texts' piece ids (what our tokenizer
made of them, given in --ids) for --seconds each: one text at a time (batch 1), and 32 at a time,
each batch padded to its longest text with an attention mask (batch 32). Each forward pass ends
with the softmax over the labels, as ours does. Tokenizing, decoding and HTTP are not part of it:
the server pays for them, this loop does not.

Prints one JSON line: {"batch_1", "batch_32": texts per second, "threads", "torch",
"probabilities": the softmax of the first --check texts, one at a time, for comparison}.

With --rounds it measures on request instead, so that the caller can take turns with its own
measurement (a machine's speed drifts over a minute; a ratio of two figures taken side by side in
time holds better): it prints {"threads", "torch", "probabilities"} once loaded, then for each line
{"batch": N, "seconds": S} read from stdin one line {"texts_per_s"}, until stdin ends.

Debian: apt-get install python3-torch
Usage: python3 bench/reference_serve_pytorch.py --model DIR --ids ids.json [--seconds 5 | --rounds]
"""

import argparse
import json
import os
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))  # tools/hf_bert.py
from hf_bert import BertConfig, BertForTokenClassification, read_safetensors  # noqa: E402


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = BertConfig(json.load(f))
    model = BertForTokenClassification(config)
    weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    weights = {k: v for k, v in weights.items() if not k.startswith("crf.")}
    model.load_state_dict(weights, strict=True)
    return model.eval()


def batches(texts, size):
    """Groups of `size` consecutive texts, each padded to its longest: ids and mask."""
    out = []
    for at in range(0, len(texts), size):
        group = texts[at : at + size]
        length = max(len(t) for t in group)
        ids = torch.zeros(len(group), length, dtype=torch.long)
        mask = torch.zeros(len(group), length, dtype=torch.long)
        for i, t in enumerate(group):
            ids[i, : len(t)] = torch.tensor(t)
            mask[i, : len(t)] = 1
        out.append((ids, mask))
    return out


def rate(model, groups, seconds):
    """Texts per second over `seconds` (at least one pass over the groups), after a warm-up."""
    for ids, mask in groups[:2]:
        model(ids, mask)[1].softmax(-1)
    done = 0
    start = time.perf_counter()
    while True:
        for ids, mask in groups:
            model(ids, mask)[1].softmax(-1)
            done += ids.shape[0]
            if time.perf_counter() - start >= seconds:
                return done / (time.perf_counter() - start)


def say(value):
    print(json.dumps(value), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help='JSON {"ids": [[piece ids of a text], ...]}')
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--check", type=int, default=4)
    ap.add_argument("--rounds", action="store_true", help="measure on request (stdin)")
    a = ap.parse_args()
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    with open(a.ids) as f:
        texts = json.load(f)["ids"]
    model = load(a.model)
    with torch.inference_mode():
        probabilities = [
            model(ids, mask)[1].softmax(-1)[0].tolist() for ids, mask in batches(texts[: a.check], 1)
        ]
        if a.rounds:
            say({"threads": threads, "torch": torch.__version__, "probabilities": probabilities})
            groups = {}
            for line in sys.stdin:
                ask = json.loads(line)
                size = int(ask["batch"])
                groups.setdefault(size, batches(texts, size))
                say({"texts_per_s": round(rate(model, groups[size], float(ask["seconds"])), 1)})
            return
        one = rate(model, batches(texts, 1), a.seconds)
        many = rate(model, batches(texts, 32), a.seconds)
    print(json.dumps({
        "batch_1": round(one, 1),
        "batch_32": round(many, 1),
        "threads": threads,
        "torch": torch.__version__,
        "probabilities": probabilities,
    }))


if __name__ == "__main__":
    main()

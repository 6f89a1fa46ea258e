"""Writes tiny random BERT checkpoints in Hugging Face layout, with reference outputs.

    /usr/bin/python3 tools/make_hf_fixture.py

Output (committed; tests read it, CI does not run Python):

- tests/testdata/hf_tiny/: config.json (BertConfig fields, 5 labels), vocab.txt (a cased
  WordPiece vocabulary of the sample corpus: frequent words, every character, every
  character as a `##` continuation), tokenizer_config.json, model.safetensors with the
  names of `BertForTokenClassification` plus what a pretrained checkpoint often carries
  and the token classifier does not use: `bert.pooler.*` and an int64
  `bert.embeddings.position_ids` buffer (written by transformers < 4.31);
- tests/testdata/hf_tiny/reference.json: input ids and attention masks of two batches, one
  with padding and one without, and the PyTorch outputs: last hidden states and logits,
  rounded to 7 significant digits;
- tests/testdata/hf_tiny_labels7/: the same encoder with a 7-label classifier.

The model is `tools/hf_bert.py`, HF semantics in plain PyTorch. Weights are drawn wider
than BERT's N(0, 0.02) so that attention is far from uniform and every path matters.
"""

import collections
import json
import os
import sys
import unicodedata

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_bert import BertConfig, BertForTokenClassification, round_list, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "testdata")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LABELS7 = ["O", "B-DT", "I-DT", "B-LC", "I-LC", "B-PS", "I-PS"]
WORDS = 120


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_words(text):
    """BERT's basic tokenizer, cased: whitespace split, then punctuation split off."""
    words = []
    for chunk in text.split():
        cur = ""
        for ch in chunk:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def build_vocab():
    texts = []
    for name in ("train.txt", "validation.txt"):
        with open(os.path.join(ROOT, "data", "sample", name), encoding="utf-8") as f:
            texts += [line[2:].rstrip("\n") for line in f if line.startswith("; ")]
    counts = collections.Counter(w for t in texts for w in basic_words(t))
    chars = sorted({ch for t in texts for ch in t if not ch.isspace()})
    frequent = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    vocab = SPECIALS + frequent[:WORDS] + chars + ["##" + c for c in chars]
    assert len(vocab) == len(set(vocab))
    return vocab


def config_json(vocab_size, labels):
    return {
        "architectures": ["BertForTokenClassification"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 16,
        "id2label": {str(i): l for i, l in enumerate(labels)},
        "initializer_range": 0.02,
        "intermediate_size": 32,
        "label2id": {l: i for i, l in enumerate(labels)},
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 128,
        "model_type": "bert",
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.40.0",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.4 * torch.randn(p.shape, generator=gen))


def write_dir(name, vocab, labels, model):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    cfg = config_json(len(vocab), labels)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(
            {"do_lower_case": False, "model_max_length": 128, "tokenizer_class": "BertTokenizer"},
            f,
            indent=2,
        )
        f.write("\n")
    tensors = dict(model.state_dict())
    tensors["bert.embeddings.position_ids"] = torch.arange(128, dtype=torch.int64)[None, :]
    write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    return cfg


def case(model, name, ids, mask):
    ids_t = torch.tensor(ids, dtype=torch.int64)
    mask_t = torch.tensor(mask, dtype=torch.int64)
    with torch.no_grad():
        hidden, logits = model(ids_t, mask_t)
        # How far float32 is from exact arithmetic here, for the record.
        m64 = BertForTokenClassification(model.config, add_pooling_layer=True).double().eval()
        m64.load_state_dict(model.state_dict())
        h64, l64 = m64(ids_t, mask_t)
    err = max((hidden.double() - h64).abs().max().item(), (logits.double() - l64).abs().max().item())
    print(f"{name}: float32 vs float64 max abs diff {err:.2e}")
    return {
        "name": name,
        "batch_size": len(ids),
        "seq_len": len(ids[0]),
        "ids": ids,
        "mask": mask,
        "hidden": round_list(hidden),
        "logits": round_list(logits),
    }


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240501)
    vocab = build_vocab()
    cfg = BertConfig(config_json(len(vocab), LABELS))
    model = BertForTokenClassification(cfg, add_pooling_layer=True).eval()
    model.config = cfg
    randomise(model, gen)

    def row(length, seq_len):
        body = torch.randint(len(SPECIALS), len(vocab), (length - 2,), generator=gen).tolist()
        ids = [2] + body + [3] + [0] * (seq_len - length)
        return ids, [1] * length + [0] * (seq_len - length)

    padded = [row(n, 12) for n in (12, 7, 3)]
    full = [row(9, 9) for _ in range(2)]
    cases = [
        case(model, "padded", [r[0] for r in padded], [r[1] for r in padded]),
        case(model, "unpadded", [r[0] for r in full], [r[1] for r in full]),
    ]
    write_dir("hf_tiny", vocab, LABELS, model)
    reference = {
        "generator": f"tools/make_hf_fixture.py, PyTorch {torch.__version__}",
        "checkpoint": "hf_tiny",
        "labels": LABELS,
        "cases": cases,
    }
    with open(os.path.join(OUT, "hf_tiny", "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
        f.write("\n")

    cfg7 = BertConfig(config_json(len(vocab), LABELS7))
    model7 = BertForTokenClassification(cfg7, add_pooling_layer=True).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    missing, unexpected = model7.load_state_dict(state, strict=False)
    assert sorted(missing) == ["classifier.bias", "classifier.weight"] and not unexpected
    with torch.no_grad():
        model7.classifier.weight.copy_(0.4 * torch.randn(model7.classifier.weight.shape, generator=gen))
        model7.classifier.bias.copy_(0.2 * torch.randn(model7.classifier.bias.shape, generator=gen))
    write_dir("hf_tiny_labels7", vocab, LABELS7, model7)
    total = sum(
        os.path.getsize(os.path.join(OUT, d, f))
        for d in ("hf_tiny", "hf_tiny_labels7")
        for f in os.listdir(os.path.join(OUT, d))
    )
    print(f"vocabulary {len(vocab)}, fixtures {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()

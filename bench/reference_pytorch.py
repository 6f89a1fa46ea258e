"""PyTorch reference for `deno task bench --reference`: training steps of a BERT token
classifier in eager PyTorch, the way Hugging Face's BertForTokenClassification computes them
(post-LayerNorm encoder, erf GELU, additive attention mask, dropout), with AdamW and global-norm
clipping. Prints one JSON line: {"ms_per_step", "tokens_per_s", "threads", "torch", "device"},
plus on cuda "device_name", "fp32_matmul_precision" and "tf32_matmul" (PyTorch's defaults are left
as they are: "highest", so no TF32, for float32 matrix products).

Debian: apt-get install python3-torch libopenblas0-pthread
Usage: python3 bench/reference_pytorch.py --layers 2 --hidden 128 --heads 2 --intermediate 512 \
         --batch 32 --seq 128 --steps 10 --warmup 3 [--device cpu|cuda]
"""

import argparse
import json
import math
import os
import time
import warnings

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, h, heads, inter, p, eps):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=eps)
        self.inter = nn.Linear(h, inter)
        self.out = nn.Linear(inter, h)
        self.out_norm = nn.LayerNorm(h, eps=eps)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask):
        b, t, h = x.shape
        d = h // self.heads

        def split(y):
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask
        probs = self.drop(scores.softmax(-1))
        ctx = (probs @ v).transpose(1, 2).reshape(b, t, h)
        x = self.attn_norm(x + self.drop(self.attn_out(ctx)))
        y = self.out(nn.functional.gelu(self.inter(x)))
        return self.out_norm(x + self.drop(y))


class Bert(nn.Module):
    def __init__(self, vocab, h, layers, heads, inter, positions, labels, p=0.1, eps=1e-12):
        super().__init__()
        self.word = nn.Embedding(vocab, h)
        self.position = nn.Embedding(positions, h)
        self.token_type = nn.Embedding(2, h)
        self.norm = nn.LayerNorm(h, eps=eps)
        self.drop = nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(h, heads, inter, p, eps) for _ in range(layers))
        self.classifier = nn.Linear(h, labels)

    def forward(self, ids, attention):
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device).unsqueeze(0)
        x = self.word(ids) + self.position(pos) + self.token_type(torch.zeros_like(ids))
        x = self.drop(self.norm(x))
        mask = (1.0 - attention[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, mask)
        return self.classifier(self.drop(x))


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("layers", 2), ("hidden", 128), ("heads", 2), ("intermediate", 512),
                          ("batch", 32), ("seq", 128), ("steps", 10), ("warmup", 3),
                          ("vocab", 8000), ("labels", 13), ("threads", 0)]:
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: torch.cuda.is_available() is False")
    device = torch.device(a.device)
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Bert(a.vocab, a.hidden, a.layers, a.heads, a.intermediate, max(512, a.seq), a.labels)
    model.to(device)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "norm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "norm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=5e-4)
    ids = torch.randint(1, a.vocab, (a.batch, a.seq)).to(device)
    attention = torch.ones(a.batch, a.seq, dtype=torch.long, device=device)
    labels = ids % a.labels
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    times = []
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    for step in range(a.warmup + a.steps):
        sync()
        start = time.perf_counter()
        logits = model(ids, attention)
        loss = loss_fn(logits.view(-1, a.labels), labels.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        if step >= a.warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    ms = 1000 * times[len(times) // 2]
    out = {"ms_per_step": round(ms, 2),
           "tokens_per_s": round(a.batch * a.seq / (ms / 1000), 1),
           "threads": threads, "torch": torch.__version__, "device": a.device}
    if a.device == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
        out.update(matmul_precision())
    print(json.dumps(out))


def matmul_precision():
    """How float32 matrix products run on CUDA: "highest" (no TF32, PyTorch's default), "high"
    (TF32 allowed) or "medium" (bfloat16 allowed)."""
    with warnings.catch_warnings():
        # Newer PyTorch warns that these settings have newer names; reading them is still right.
        warnings.simplefilter("ignore")
        precision = torch.get_float32_matmul_precision()
        try:
            tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        except RuntimeError:  # mixed old and new TF32 settings: the precision says it
            tf32 = precision != "highest"
    return {"fp32_matmul_precision": precision, "tf32_matmul": tf32}


if __name__ == "__main__":
    main()

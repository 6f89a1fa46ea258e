"""Converts a Hugging Face `pytorch_model.bin` into `model.safetensors`, with PyTorch alone.

    /usr/bin/python3 tools/convert/bin_to_safetensors.py models/bert-base-cased

Debian packages PyTorch (`apt-get install python3-torch`) but neither `transformers` nor
`safetensors`; this writes the file with the small writer of tools/hf_bert.py. Names are kept
as they are (old `LayerNorm.gamma`/`beta` names included: the loader renames them). Tensors
that share storage (tied embeddings of `cls.predictions.decoder`) are each written in full.
"""

import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/hf_bert.py
from hf_bert import write_safetensors  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bin_to_safetensors.py <model directory>")
    d = sys.argv[1]
    src = os.path.join(d, "pytorch_model.bin")
    dst = os.path.join(d, "model.safetensors")
    if os.path.exists(dst):
        sys.exit(f"{dst} exists already")
    state = torch.load(src, map_location="cpu")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    bf16 = [k for k, v in tensors.items() if v.dtype == torch.bfloat16]
    for k in bf16:  # NumPy has no bfloat16; widen (the loader would widen anyway).
        tensors[k] = tensors[k].float()
    write_safetensors(dst, tensors)
    print(f"wrote {dst}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()

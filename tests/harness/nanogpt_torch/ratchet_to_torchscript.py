"""ratchet_to_torchscript.py CKPT OUT: a ratchet-train checkpoint as a train.py model.

Reads the checkpoint file of trainer/checkpoint.h ("RCHTCKPT", version 1,
header JSON, float32 arena padded to 64 bytes, SHA-256 trailer), copies its
tensors into experiments/nanogpt-torch/train.py's GPT (the same layout:
matrices [in, out], layernorm gain and bias, learned positions, tanh GELU,
untied head) and saves it as the TorchScript checkpoint evaluate.py reads.
So one set of weights can be scored by ratchet-eval and by evaluate.py.
Configs train.py's GPT cannot express are refused.
"""

import hashlib
import importlib.util
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_PY = os.path.join(HERE, "..", "..", "..", "experiments", "nanogpt-torch", "train.py")
EXPRESSIBLE = {"norm": "layernorm", "activation": "gelu", "pos": "learned",
               "tie_embeddings": False, "qk_norm": False, "logit_softcap": 0.0}


def load_train_py():
    sys.dont_write_bytecode = True  # no __pycache__ in the template folder
    spec = importlib.util.spec_from_file_location("nanogpt_train", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_checkpoint(path):
    data = open(path, "rb").read()
    if data[:8] != b"RCHTCKPT":
        sys.exit(f"{path}: not a ratchet checkpoint")
    version, _, header_length = struct.unpack_from("<IIQ", data, 8)
    if version != 1:
        sys.exit(f"{path}: unsupported checkpoint version {version}")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        sys.exit(f"{path}: corrupt (checksum mismatch)")
    header = json.loads(data[24:24 + header_length])
    start = 24 + header_length
    start += (64 - start % 64) % 64
    arena = torch.frombuffer(bytearray(data[start:-32]), dtype=torch.float32)
    tensors = {}
    for t in header["tensors"]:
        offset, shape = t["offset"] // 4, t["shape"]
        numel = 1
        for d in shape:
            numel *= d
        tensors[t["name"]] = arena[offset:offset + numel].view(*shape).clone()
    return header["config"], tensors


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ratchet_to_torchscript.py CHECKPOINT OUT")
    config, tensors = read_checkpoint(sys.argv[1])
    for key, value in EXPRESSIBLE.items():
        if config.get(key, value) != value:
            sys.exit(f"{sys.argv[1]}: {key} {config[key]!r} is not expressible by train.py's GPT")
    train = load_train_py()
    C = config["n_embd"]
    hidden = tensors["h0.mlp.wfc"].shape[1]
    model = train.GPT(config["n_layer"], C, config["n_head"], hidden, config["seq_len"])
    names = {"wte": "wte", "wpe": "wpe", "lnf.g": "lnf.g", "lnf.b": "lnf.b",
             "lm_head": "lm_head"}
    for l in range(config["n_layer"]):
        for ours, theirs in (("ln1.g", "ln1.g"), ("ln1.b", "ln1.b"), ("wqkv", "attn.wqkv"),
                             ("wo", "attn.wo"), ("ln2.g", "ln2.g"), ("ln2.b", "ln2.b"),
                             ("wfc", "mlp.wfc"), ("wproj", "mlp.wproj")):
            names[f"blocks.{l}.{ours}"] = f"h{l}.{theirs}"
    params = dict(model.named_parameters())
    if set(params) != set(names):
        sys.exit(f"train.py's GPT has parameters {sorted(set(params) ^ set(names))} unmapped")
    with torch.no_grad():
        for ours, theirs in names.items():
            if tuple(params[ours].shape) != tuple(tensors[theirs].shape):
                sys.exit(f"{theirs}: shape {tuple(tensors[theirs].shape)} vs "
                         f"{tuple(params[ours].shape)}")
            params[ours].copy_(tensors[theirs])
    model.eval()
    torch.jit.script(model).save(sys.argv[2])


if __name__ == "__main__":
    main()

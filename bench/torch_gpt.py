#!/usr/bin/env python3
"""The PyTorch twin of ratchet-train's tinygpt model, for bench/trainer_vs_torch.sh.

Same model as the C++ trainer (the contract in trainer/MODEL.md): byte-level
pre-norm GPT, FP32, bias-free linears with weights stored [in, out], the same
tensor names; AdamW with the trainer's parameter groups (embed_lr for wte/wpe,
matrix_lr and weight decay for the hidden matrices, lr and weight decay for
lm_head, lr without decay for norms); the trainer's warm-up + schedule over the
budget progress; global-norm gradient clipping; random training windows of
train.bin. Supports activation gelu|relu2|swiglu, norm layernorm|rmsnorm, pos
learned|rope, tie_embeddings, qk_norm, logit_softcap (optimizer adamw only).

It can write a ratchet checkpoint (--out), so ratchet-eval scores the PyTorch
model with exactly the same metric as the C++ one.

Prints JSON progress lines and a final summary line with "summary": true and
tokens_per_s (training loop only; the first --warmup-steps steps are excluded
from the rate, which favours PyTorch slightly: its first step pays lazy set-up).
Run with Debian's interpreter (/usr/bin/python3) and python3-torch.
"""
import argparse
import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# Defaults of trainer/config.h for the keys the twin reads.
DEFAULTS = {
    "n_layer": 4, "n_embd": 128, "n_head": 4, "mlp_ratio": 4.0, "activation": "gelu",
    "norm": "layernorm", "pos": "learned", "rope_base": 10000.0, "tie_embeddings": False,
    "qk_norm": False, "logit_softcap": 0.0, "seq_len": 128, "batch_size": 16, "grad_accum": 1,
    "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
    "grad_clip": 1.0, "init_std": 0.02, "schedule": "cosine", "warmup_frac": 0.05,
    "cooldown_frac": 0.2, "min_lr_frac": 0.0,
}


def blas_in_use():
    """The shared object libtorch's sgemm_ resolves to, and OpenBLAS's kernel name."""
    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
    where, core = "?", "-"
    libtorch = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        # dlsym on libtorch's handle searches it and its dependencies in load
        # order, as the dynamic linker did when it bound libtorch's sgemm_ calls.
        lib = ctypes.CDLL(libtorch)
        address = ctypes.cast(lib.sgemm_, ctypes.c_void_p)
        info = DlInfo()
        libc = ctypes.CDLL("libc.so.6")
        libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        if libc.dladdr(address, ctypes.byref(info)) and info.dli_fname:
            where = os.path.realpath(info.dli_fname.decode())
        if "openblas" in where:
            get = ctypes.CDLL(where).openblas_get_corename
            get.restype = ctypes.c_char_p
            core = get().decode()
    except (OSError, AttributeError):
        pass
    return where, core


class TinyGPT(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        C, L = c["n_embd"], c["n_layer"]
        H = int(round(c["mlp_ratio"] * C))
        self.H = H
        self.layernorm = c["norm"] == "layernorm"
        # Tensors in the trainer's arena order and names (dots become "__").
        self.names = []
        def add(name, shape, kind):
            std = c["init_std"]
            if kind == "gain":
                t = torch.ones(shape)
            elif kind == "bias":
                t = torch.zeros(shape)
            else:
                if name.endswith("attn.wo") or name.endswith("mlp.wproj"):
                    std /= math.sqrt(2 * L)
                t = torch.randn(shape) * std
            self.register_parameter(name.replace(".", "__"), torch.nn.Parameter(t))
            self.names.append(name)
        def norm(prefix):
            add(prefix + ".g", [C], "gain")
            if self.layernorm:
                add(prefix + ".b", [C], "bias")
        add("wte", [256, C], "matrix")
        if c["pos"] == "learned":
            add("wpe", [c["seq_len"], C], "matrix")
        for l in range(L):
            norm(f"h{l}.ln1")
            add(f"h{l}.attn.wqkv", [C, 3 * C], "matrix")
            add(f"h{l}.attn.wo", [C, C], "matrix")
            norm(f"h{l}.ln2")
            add(f"h{l}.mlp.wfc", [C, 2 * H if c["activation"] == "swiglu" else H], "matrix")
            add(f"h{l}.mlp.wproj", [H, C], "matrix")
        norm("lnf")
        if not c["tie_embeddings"]:
            add("lm_head", [C, 256], "matrix")
        if c["pos"] == "rope":
            hs = C // c["n_head"]
            inv = c["rope_base"] ** (-2.0 * torch.arange(hs // 2, dtype=torch.float64) / hs)
            ang = torch.arange(c["seq_len"], dtype=torch.float64)[:, None] * inv[None, :]
            self.register_buffer("cos", ang.cos().float(), persistent=False)
            self.register_buffer("sin", ang.sin().float(), persistent=False)

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def norm(self, x, prefix):
        if self.layernorm:
            return F.layer_norm(x, (x.shape[-1],), self.p(prefix + ".g"), self.p(prefix + ".b"), 1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.p(prefix + ".g")

    def rope(self, x, T):  # x [B, NH, T, hs]
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
        cos, sin = self.cos[:T], self.sin[:T]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)

    def forward(self, idx, targets):
        c = self.c
        B, T = idx.shape
        C, NH = c["n_embd"], c["n_head"]
        hs = C // NH
        x = F.embedding(idx, self.p("wte"))
        if c["pos"] == "learned":
            x = x + self.p("wpe")[:T]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        for l in range(c["n_layer"]):
            h = self.norm(x, f"h{l}.ln1")
            q, k, v = (h @ self.p(f"h{l}.attn.wqkv")).split(C, dim=-1)
            q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
            if c["qk_norm"]:
                q = q * torch.rsqrt(q.pow(2).mean(-1, keepdim=True) + 1e-6)
                k = k * torch.rsqrt(k.pow(2).mean(-1, keepdim=True) + 1e-6)
            if c["pos"] == "rope":
                q, k = self.rope(q, T), self.rope(k, T)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
            att = att.masked_fill(mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ self.p(f"h{l}.attn.wo")
            u = self.norm(x, f"h{l}.ln2") @ self.p(f"h{l}.mlp.wfc")
            if c["activation"] == "gelu":
                m = F.gelu(u, approximate="tanh")
            elif c["activation"] == "relu2":
                m = F.relu(u).square()
            else:
                gate, up = u.split(self.H, dim=-1)
                m = F.silu(gate) * up
            x = x + m @ self.p(f"h{l}.mlp.wproj")
        h = self.norm(x, "lnf")
        logits = h @ (self.p("wte").t() if c["tie_embeddings"] else self.p("lm_head"))
        if c["logit_softcap"] > 0:
            cap = c["logit_softcap"]
            logits = cap * torch.tanh(logits / cap)
        return F.cross_entropy(logits.reshape(-1, 256), targets.reshape(-1))


def lr_multiplier(c, p):
    """trainer/schedule.cc, line for line."""
    p = min(max(p, 0.0), 1.0)
    w, lo = c["warmup_frac"], c["min_lr_frac"]
    if p < w:
        return max(p / w, 0.01)
    kind = c["schedule"]
    if kind == "constant" or (kind in ("linear", "cosine") and w >= 1.0):
        return 1.0
    if kind == "linear":
        return 1.0 + (lo - 1.0) * (p - w) / (1.0 - w)
    if kind == "cosine":
        return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * (p - w) / (1.0 - w)))
    start = 1.0 - c["cooldown_frac"]
    if p <= start or c["cooldown_frac"] <= 0:
        return 1.0
    return 1.0 + (lo - 1.0) * (p - start) / c["cooldown_frac"]


def write_checkpoint(path, model, config, meta):
    """The ratchet checkpoint format (trainer/checkpoint.h), written atomically."""
    tensors, blobs, offset = [], [], 0
    for name in model.names:
        t = model.p(name).detach().contiguous().float().numpy()
        tensors.append({"name": name, "shape": list(t.shape), "offset": offset})
        blobs.append(t.tobytes())
        offset += t.nbytes
    header = json.dumps({"config": config, "tensors": tensors, "meta": meta}).encode()
    out = bytearray(b"RCHTCKPT" + struct.pack("<IIQ", 1, 0, len(header)) + header)
    out += b"\0" * ((64 - len(out) % 64) % 64)
    for b in blobs:
        out += b
    out += hashlib.sha256(out).digest()
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(out)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="train.json (keys beyond DEFAULTS are passed through to the checkpoint)")
    ap.add_argument("--shape", help="n_layer,n_embd,n_head,seq_len,batch_size (overrides the config)")
    ap.add_argument("--data", required=True, help="folder holding train.bin")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    budget = ap.add_mutually_exclusive_group(required=True)
    budget.add_argument("--time-budget", type=float, help="seconds of training loop")
    budget.add_argument("--token-budget", type=int, help="training tokens")
    ap.add_argument("--warmup-steps", type=int, default=1, help="steps left out of tokens_per_s")
    ap.add_argument("--log-every", type=int, default=0)
    ap.add_argument("--out", help="write a ratchet checkpoint here")
    a = ap.parse_args()

    file_config = {}
    if a.config:
        with open(a.config) as f:
            file_config = json.load(f)
    c = dict(DEFAULTS, **file_config)
    c.setdefault("embed_lr", c["lr"])
    c.setdefault("matrix_lr", c["lr"])
    if a.shape:
        L, C, NH, T, B = (int(v) for v in a.shape.split(","))
        c.update(n_layer=L, n_embd=C, n_head=NH, seq_len=T, batch_size=B)
        file_config.update(n_layer=L, n_embd=C, n_head=NH, seq_len=T, batch_size=B)
    if c["optimizer"] != "adamw":
        sys.exit("torch_gpt.py: only optimizer adamw is implemented in the twin")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = TinyGPT(c)
    groups = {"embed": [], "matrix": [], "head": [], "norm": []}
    for name in model.names:
        kind = ("embed" if name in ("wte", "wpe") else "head" if name == "lm_head"
                else "norm" if name.endswith((".g", ".b")) else "matrix")
        groups[kind].append(model.p(name))
    base = {"embed": (c["embed_lr"], 0.0), "matrix": (c["matrix_lr"], c["weight_decay"]),
            "head": (c["lr"], c["weight_decay"]), "norm": (c["lr"], 0.0)}
    opt = torch.optim.AdamW(
        [{"params": ps, "lr": base[k][0], "weight_decay": base[k][1], "base_lr": base[k][0]}
         for k, ps in groups.items() if ps],
        betas=(c["beta1"], c["beta2"]), eps=1e-8, foreach=True)

    data = torch.from_numpy(np.fromfile(os.path.join(a.data, "train.bin"), dtype=np.uint8).astype(np.int64))
    B, T, accum = c["batch_size"], c["seq_len"], c["grad_accum"]
    gen = torch.Generator().manual_seed(a.seed)
    offsets = torch.arange(T + 1)
    tokens_per_step = B * T * accum

    step, tokens, loss_value = 0, 0, float("nan")
    start = time.perf_counter()
    rate_start, rate_tokens = start, 0
    while True:
        elapsed = time.perf_counter() - start
        if a.time_budget is not None:
            if elapsed >= a.time_budget:
                break
            progress = elapsed / a.time_budget
        else:
            if tokens + tokens_per_step > a.token_budget:
                break
            progress = tokens / a.token_budget
        mult = lr_multiplier(c, progress)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * mult
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accum):
            starts = torch.randint(0, len(data) - T - 1, (B,), generator=gen)
            window = data[starts[:, None] + offsets]
            loss = model(window[:, :-1], window[:, 1:])
            (loss / accum).backward()
            total += loss.item() / accum
        if c["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        opt.step()
        if not math.isfinite(total):
            sys.exit(f"torch_gpt.py: loss is {total} at step {step}")
        step += 1
        tokens += tokens_per_step
        loss_value = total
        if step == a.warmup_steps:
            rate_start, rate_tokens = time.perf_counter(), tokens
        if a.log_every and step % a.log_every == 0:
            print(json.dumps({"step": step, "loss": total, "lr_mult": mult,
                              "elapsed": time.perf_counter() - start}), flush=True)
    seconds = time.perf_counter() - start
    timed = time.perf_counter() - rate_start
    rate = (tokens - rate_tokens) / timed if step > a.warmup_steps and timed > 0 else tokens / seconds
    if a.out:
        write_checkpoint(a.out, model, file_config, {"step": step, "tokens": tokens, "seed": a.seed,
                                                     "train_loss": loss_value, "trainer": "torch_gpt.py"})
    where, core = blas_in_use()
    print(json.dumps({"summary": True, "steps": step, "tokens": tokens, "seconds": seconds,
                      "tokens_per_s": rate, "train_loss": loss_value, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "blas": where, "corename": core}), flush=True)


if __name__ == "__main__":
    main()

"""train.py: a small byte-level GPT in PyTorch (CPU), trained under a budget.

This file is the mutable part of the experiment: model, optimiser and schedule
all live here and an agent may rewrite any of it. The contract with the
immutable side (evaluate.py) is only the checkpoint written to --out:

  a TorchScript module (torch.jit.script(...).save) whose forward takes
  bytes as int64 [B, T] (T <= its int attribute `seq_len`) and returns
  float logits [B, T, 256], position t seeing only bytes 0..t.

Hyper-parameters: DEFAULTS below, overridden by the keys of the JSON file
given with --hparams (specs/nanogpt-torch-search.json passes hparams.json);
an unknown key is an error. Budget (--time-budget seconds of training loop,
default TIME_BUDGET, or --token-budget tokens), --seed, --threads, --data (a
folder with train.bin) and --out come from the command line, chosen by the
controller.
"""

import argparse
import json
import math
import os
import sys
import time

# Threads, set before torch loads: torch's own (--threads) do the parallel
# work. OpenBLAS threads on top of them oversubscribe the cores (a tiny
# forward: 40 ms instead of 0.4 ms), and OpenMP threads that spin while they
# wait starve each other on a busy machine (1.4 vs 55 thousand tokens/s at
# load 9 on 2 cores).
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_WAIT_POLICY"] = "passive"
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TIME_BUDGET = 60  # seconds of training loop when no budget is given

DEFAULTS = {
    "n_layer": 2,
    "n_embd": 64,
    "n_head": 4,
    "mlp_ratio": 4.0,
    "seq_len": 64,
    "batch_size": 16,
    "lr": 0.003,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "grad_clip": 1.0,
    "init_std": 0.02,
    "warmup_frac": 0.05,
    "min_lr_frac": 0.0,
}


class LayerNorm(nn.Module):
    def __init__(self, n_embd: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(n_embd))
        self.b = nn.Parameter(torch.zeros(n_embd))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.g, self.b, 1e-5)


class Block(nn.Module):
    # Matrices are stored [in, out] and applied as x @ w, as in ratchet-train.
    def __init__(self, n_embd: int, n_head: int, hidden: int):
        super().__init__()
        self.n_head = n_head
        self.ln1 = LayerNorm(n_embd)
        self.wqkv = nn.Parameter(torch.empty(n_embd, 3 * n_embd))
        self.wo = nn.Parameter(torch.empty(n_embd, n_embd))
        self.ln2 = LayerNorm(n_embd)
        self.wfc = nn.Parameter(torch.empty(n_embd, hidden))
        self.wproj = nn.Parameter(torch.empty(hidden, n_embd))

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = (self.ln1(x) @ self.wqkv).split(C, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ self.wo
        return x + F.gelu(self.ln2(x) @ self.wfc, approximate="tanh") @ self.wproj


class GPT(nn.Module):
    def __init__(self, n_layer: int, n_embd: int, n_head: int, hidden: int, seq_len: int):
        super().__init__()
        self.seq_len = seq_len
        self.wte = nn.Parameter(torch.empty(256, n_embd))
        self.wpe = nn.Parameter(torch.empty(seq_len, n_embd))
        self.blocks = nn.ModuleList([Block(n_embd, n_head, hidden) for _ in range(n_layer)])
        self.lnf = LayerNorm(n_embd)
        self.lm_head = nn.Parameter(torch.empty(n_embd, 256))

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte[idx] + self.wpe[:T]
        for block in self.blocks:
            x = block(x)
        return self.lnf(x) @ self.lm_head


def init_weights(model: GPT, std: float, n_layer: int, generator: torch.Generator):
    for name, p in model.named_parameters():
        if name.endswith(".g"):
            nn.init.ones_(p)
        elif name.endswith(".b"):
            nn.init.zeros_(p)
        else:
            # Residual projections scaled down with depth (GPT-2).
            scale = 1.0 / math.sqrt(2 * n_layer) if name.endswith(("wo", "wproj")) else 1.0
            with torch.no_grad():
                p.normal_(0.0, std * scale, generator=generator)


def load_hparams(path: str) -> dict:
    hp = dict(DEFAULTS)
    if path:
        with open(path) as f:
            given = json.load(f)
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            sys.exit(f"{path}: unknown key {unknown[0]!r}")
        hp.update(given)
    if hp["n_embd"] % hp["n_head"]:
        sys.exit(f"n_embd {hp['n_embd']} is not divisible by n_head {hp['n_head']}")
    return hp


def lr_at(progress: float, hp: dict) -> float:
    # Linear warm-up, then cosine decay to min_lr_frac over the budget.
    if progress < hp["warmup_frac"]:
        return hp["lr"] * progress / hp["warmup_frac"]
    p = min(1.0, (progress - hp["warmup_frac"]) / max(1e-9, 1.0 - hp["warmup_frac"]))
    floor = hp["min_lr_frac"]
    return hp["lr"] * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.bin")
    ap.add_argument("--out", required=True, help="checkpoint to write (TorchScript)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", type=float, help="seconds of training loop")
    budget.add_argument("--token-budget", type=int, help="training tokens")
    ap.add_argument("--hparams", help="JSON file overriding DEFAULTS")
    args = ap.parse_args()
    if args.time_budget is None and args.token_budget is None:
        args.time_budget = TIME_BUDGET

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    hp = load_hparams(args.hparams)
    train_path = os.path.join(args.data, "train.bin")
    with open(train_path, "rb") as f:
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
    T, B = hp["seq_len"], hp["batch_size"]
    if data.numel() <= T + 1:
        sys.exit(f"{train_path}: too short for seq_len {T}")

    generator = torch.Generator().manual_seed(args.seed)
    hidden = round(hp["mlp_ratio"] * hp["n_embd"])
    model = GPT(hp["n_layer"], hp["n_embd"], hp["n_head"], hidden, T)
    init_weights(model, hp["init_std"], hp["n_layer"], generator)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]))

    tokens, step, loss_value = 0, 0, float("nan")
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        progress = (elapsed / args.time_budget if args.time_budget is not None
                    else tokens / args.token_budget)
        if progress >= 1.0:
            break
        offsets = torch.randint(0, data.numel() - T - 1, (B,), generator=generator)
        window = torch.stack([data[o:o + T + 1] for o in offsets.tolist()]).long()
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), window[:, 1:].reshape(-1))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(progress, hp)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if hp["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
        optimizer.step()
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            sys.exit(f"step {step}: loss is not finite")
        tokens += B * T
        step += 1
        if step % 50 == 0:
            print(json.dumps({"step": step, "tokens": tokens, "loss": round(loss_value, 4)}),
                  flush=True)

    train_seconds = time.monotonic() - start
    model.eval()
    meta = {"format": "nanogpt-torch", "version": 1, "seed": args.seed, "step": step,
            "tokens": tokens, "train_loss": loss_value, "hparams": hp}
    tmp = args.out + ".tmp"
    torch.jit.script(model).save(tmp, _extra_files={"meta.json": json.dumps(meta)})
    os.replace(tmp, args.out)
    print(json.dumps({"done": True, "step": step, "tokens": tokens, "train_loss": loss_value,
                      "train_seconds": round(train_seconds, 3),
                      "tokens_per_s": round(tokens / max(train_seconds, 1e-9))}), flush=True)


if __name__ == "__main__":
    main()

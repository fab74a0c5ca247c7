"""evaluate.py: val_bpb of a train.py checkpoint on the held-out split.

Immutable side of the experiment (pinned by the spec; never in its mutable
set). Prints one JSON line {"val_bpb": ..., "bytes": ..., ...}.

The metric is ratchet-eval's (harness/eval.h), byte for byte: let
N = min(max_bytes, size of val.bin) and S = val.bin[0, N). S is cut into
consecutive non-overlapping windows of seq_len predicted bytes (the last one
may be shorter); window w feeds S[w*seq_len + t] and scores
S[w*seq_len + t + 1], so every byte S[1..N-1] is predicted exactly once.
  val_bpb = (sum of per-byte cross-entropy in nats) / ln 2 / (N - 1),
windows summed in order in double precision. The evaluator computes the
log-softmax itself, so only the model's logits count.

Trust. The checkpoint comes from mutable code, so:
- val.bin is checked against manifest.json's SHA-256 before anything runs;
- the checkpoint must be a TorchScript archive: no Python of train.py runs
  here. Its code is scanned before loading and refused if it could read files
  (torch.from_file, torch.load) or runs code at load time (__setstate__); the
  loaded forward's graph may only use aten:: and prim:: operators;
- causality is probed on every window: a fresh copy of the model gets the
  window cut at a random point k (drawn from the OS, unknown to the model)
  and its outputs at positions < k must equal those of the full window. A
  model that peeks at later bytes (or at the other windows of its batch) is
  refused. The probes all run first, in window order, on their own copy, so
  a model with state cannot learn a window's continuation before its probe.
Run with `python3 -I` (no environment, no script or user folders on sys.path).

Two checkpoint formats, one metric: a TorchScript archive (train.py), or a
ratchet-train checkpoint (trainer/checkpoint.h: magic, header JSON, float32
tensors, SHA-256 trailer), run by RatchetGPT below, a transcription of
harness/reference_model.cc. So specs/nanogpt-torch.json and its built-in
twin specs/nanogpt-torch-builtin.json score both trainers with this one file.
"""

import argparse
import hashlib
import json
import math
import os
import random
import struct
import sys
import time
import zipfile

# Threads, set before torch loads: torch's own (--threads) do the parallel
# work. OpenBLAS threads on top of them oversubscribe the cores (a tiny
# forward: 40 ms instead of 0.4 ms), and OpenMP threads that spin while they
# wait starve each other on a busy machine (1.4 vs 55 thousand tokens/s at
# load 9 on 2 cores).
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_WAIT_POLICY"] = "passive"
import torch  # noqa: E402

DEFAULT_MAX_BYTES = 256 * 1024  # ratchet-eval's default slice
MAX_SEQ_LEN = 4096
PROBE_TOLERANCE = 1e-3  # nats; float rounding of a shorter input stays far below
FORBIDDEN_CODE = ("from_file", "__setstate__", "torch.load", "torch.save", "_load_for")


def fail(message: str):
    print(f"evaluate.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_verified_val(data_dir: str) -> bytes:
    manifest_path = os.path.join(data_dir, "manifest.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        expected = manifest["files"]["val.bin"]["sha256"]
    except FileNotFoundError:
        fail(f"{manifest_path}: not found (prepare the data first)")
    except (ValueError, KeyError, TypeError) as e:
        fail(f"{manifest_path}: not a ratchet data manifest ({e.__class__.__name__}: {e})")
    if manifest.get("format") != "ratchet-data" or manifest.get("version") != 1:
        fail(f"{manifest_path}: unsupported manifest format or version")
    val_path = os.path.join(data_dir, "val.bin")
    try:
        with open(val_path, "rb") as f:
            val = f.read()
    except OSError as e:
        fail(f"{val_path}: {e.strerror}")
    if hashlib.sha256(val).hexdigest() != expected:
        fail(f"{val_path}: SHA-256 differs from {manifest_path}")
    return val


def check_archive(path: str):
    """Refuses archives whose code could read files or run at load time."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            for name in names:
                if "/code/" in name and name.endswith(".py"):
                    code = archive.read(name).decode("utf-8", "replace")
                    for word in FORBIDDEN_CODE:
                        if word in code:
                            fail(f"{path}: refused: its code uses {word} ({name})")
    except (zipfile.BadZipFile, OSError) as e:
        fail(f"{path}: not a TorchScript checkpoint ({e})")
    if not any(name.endswith("/data.pkl") for name in names):
        fail(f"{path}: not a TorchScript checkpoint (no data.pkl)")


def check_graph(model, path: str):
    def visit(block):
        for node in block.nodes():
            kind = node.kind()
            if not kind.startswith(("aten::", "prim::")):
                fail(f"{path}: refused: its forward uses the operator {kind}")
            for inner in node.blocks():
                visit(inner)

    visit(model.forward.inlined_graph)


class RatchetNorm(torch.nn.Module):
    def __init__(self, g: torch.Tensor, b: torch.Tensor, layernorm: bool):
        super().__init__()
        self.g = torch.nn.Parameter(g)
        self.b = torch.nn.Parameter(b)
        self.layernorm = layernorm

    def forward(self, x):
        if self.layernorm:
            return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.g, self.b, 1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.g


class RatchetBlock(torch.nn.Module):
    def __init__(self, t: dict, p: str, config: dict, layernorm: bool):
        super().__init__()
        self.n_head = config["n_head"]
        self.qk_norm = bool(config["qk_norm"])
        self.rope = config["pos"] == "rope"
        self.rope_base = float(config["rope_base"])
        self.activation = config["activation"]
        zeros = torch.zeros(config["n_embd"])
        self.ln1 = RatchetNorm(t[p + "ln1.g"], t.get(p + "ln1.b", zeros), layernorm)
        self.ln2 = RatchetNorm(t[p + "ln2.g"], t.get(p + "ln2.b", zeros), layernorm)
        self.wqkv = torch.nn.Parameter(t[p + "attn.wqkv"])
        self.wo = torch.nn.Parameter(t[p + "attn.wo"])
        self.wfc = torch.nn.Parameter(t[p + "mlp.wfc"])
        self.wproj = torch.nn.Parameter(t[p + "mlp.wproj"])

    def heads(self, x, B: int, T: int, hs: int, normalize: bool):
        x = x.view(B, T, self.n_head, hs).transpose(1, 2)
        if normalize and self.qk_norm:
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        if normalize and self.rope:
            i = torch.arange(hs // 2, dtype=torch.float64)
            angle = torch.arange(T, dtype=torch.float64)[:, None] * self.rope_base ** (-2.0 * i / hs)
            cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
            a, b = x[..., :hs // 2], x[..., hs // 2:]
            x = torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
        return x

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = (self.ln1(x) @ self.wqkv).split(C, dim=2)
        q, k = self.heads(q, B, T, hs, True), self.heads(k, B, T, hs, True)
        v = self.heads(v, B, T, hs, False)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, C) @ self.wo
        u = self.ln2(x) @ self.wfc
        if self.activation == "gelu":
            m = torch.nn.functional.gelu(u, approximate="tanh")
        elif self.activation == "relu2":
            m = torch.relu(u).pow(2)
        else:  # swiglu: gate columns [0, H), up [H, 2H)
            H = u.shape[-1] // 2
            m = torch.nn.functional.silu(u[..., :H]) * u[..., H:]
        return x + m @ self.wproj


class RatchetGPT(torch.nn.Module):
    def __init__(self, config: dict, t: dict):
        super().__init__()
        layernorm = config["norm"] == "layernorm"
        C = config["n_embd"]
        self.seq_len = int(config["seq_len"])
        self.learned_pos = config["pos"] == "learned"
        self.tie = bool(config["tie_embeddings"])
        self.softcap = float(config["logit_softcap"])
        self.wte = torch.nn.Parameter(t["wte"])
        self.wpe = torch.nn.Parameter(t.get("wpe", torch.zeros(1, C)))
        self.lm_head = torch.nn.Parameter(t.get("lm_head", torch.zeros(C, 256)))
        self.blocks = torch.nn.ModuleList(
            [RatchetBlock(t, f"h{l}.", config, layernorm) for l in range(config["n_layer"])])
        self.lnf = RatchetNorm(t["lnf.g"], t.get("lnf.b", torch.zeros(C)), layernorm)

    def forward(self, idx):
        x = self.wte[idx]
        if self.learned_pos:
            x = x + self.wpe[:idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        h = self.lnf(x)
        logits = h @ self.wte.t() if self.tie else h @ self.lm_head
        if self.softcap > 0:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        return logits


def load_ratchet_checkpoint(path: str, data: bytes):
    """A ratchet-train checkpoint as a scripted RatchetGPT; refuses damaged files."""
    if len(data) < 24 + 32:
        fail(f"{path}: truncated checkpoint (no header)")
    version, _, header_length = struct.unpack_from("<IIQ", data, 8)
    if version != 1:
        fail(f"{path}: unsupported checkpoint version {version}")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        fail(f"{path}: corrupt (checksum mismatch)")
    try:
        header = json.loads(data[24:24 + header_length])
        config = header["config"]
        start = 24 + header_length
        start += (64 - start % 64) % 64
        arena = torch.frombuffer(bytearray(data[start:-32]), dtype=torch.float32)
        tensors = {}
        for t in header["tensors"]:
            shape, offset = [int(d) for d in t["shape"]], int(t["offset"]) // 4
            numel = math.prod(shape)
            if offset + numel > arena.numel():
                fail(f"{path}: header/tensor mismatch: {t['name']} lies past the data")
            tensors[t["name"]] = arena[offset:offset + numel].view(*shape).clone()
        model = RatchetGPT(config, tensors)
    except (ValueError, KeyError, TypeError) as e:
        fail(f"{path}: header/tensor mismatch: {e.__class__.__name__}: {e}")
    return torch.jit.script(model.eval())


def load_model(path: str):
    with open(path, "rb") as f:
        if f.read(8) == b"RCHTCKPT":
            f.seek(0)
            return load_ratchet_checkpoint(path, f.read())

    try:
        model = torch.jit.load(path, map_location="cpu")
    except Exception as e:  # torch raises RuntimeError and others on corrupt files
        fail(f"{path}: cannot load the TorchScript checkpoint: {str(e).splitlines()[0]}")
    model.eval()
    return model


def model_seq_len(model, path: str) -> int:
    seq_len = getattr(model, "seq_len", None)
    if not isinstance(seq_len, int) or not 1 <= seq_len <= MAX_SEQ_LEN:
        fail(f"{path}: the model needs an int attribute seq_len in [1, {MAX_SEQ_LEN}]")
    return seq_len


def log_probs(model, inputs: torch.Tensor, path: str) -> torch.Tensor:
    """[B, T] int64 -> [B, T, 256] float64 log-probabilities."""
    with torch.no_grad():
        logits = model(inputs)
    B, T = inputs.shape
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (B, T, 256):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        fail(f"{path}: forward returned {got}, expected logits of shape ({B}, {T}, 256)")
    if not logits.is_floating_point():
        fail(f"{path}: forward returned {logits.dtype} logits, expected floating point")
    return torch.log_softmax(logits.double(), dim=-1)


def windows(slice_bytes: int, seq_len: int):
    predicted = slice_bytes - 1
    return [(start, min(seq_len, predicted - start)) for start in range(0, predicted, seq_len)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="folder with val.bin and manifest.json")
    ap.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="0: all of val.bin")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8, help="windows per forward call")
    args = ap.parse_args()
    start_time = time.monotonic()
    torch.set_num_threads(args.threads)
    # The probes' many input lengths would each trigger the JIT's profiling
    # and re-optimisation; plain execution gives the same numbers.
    torch._C._jit_set_profiling_executor(False)
    with torch.jit.optimized_execution(False):
        evaluate(args, start_time)


def evaluate(args, start_time):
    val = read_verified_val(args.data)
    n = len(val) if args.max_bytes == 0 else min(args.max_bytes, len(val))
    if n < 2:
        fail(f"{os.path.join(args.data, 'val.bin')}: fewer than 2 bytes to evaluate")
    if not os.path.isfile(args.checkpoint):
        fail(f"{args.checkpoint}: checkpoint not found")
    with open(args.checkpoint, "rb") as f:
        if f.read(8) != b"RCHTCKPT":  # RatchetGPT is this file's own code
            check_archive(args.checkpoint)
    probe_model = load_model(args.checkpoint)
    check_graph(probe_model, args.checkpoint)
    seq_len = model_seq_len(probe_model, args.checkpoint)
    data = torch.frombuffer(bytearray(val[:n]), dtype=torch.uint8).long()
    all_windows = windows(n, seq_len)

    # Probes first, in window order, on their own copy of the model.
    draw = random.SystemRandom()
    probes = []
    for start, length in all_windows:
        k = draw.randint(1, length - 1) if length > 1 else 1
        probes.append((k, log_probs(probe_model, data[start:start + k].unsqueeze(0),
                                    args.checkpoint)[0]))
    del probe_model

    model = load_model(args.checkpoint)
    total_nats = 0.0
    w = 0
    while w < len(all_windows):
        length = all_windows[w][1]
        B = 1
        while B < args.batch and w + B < len(all_windows) and all_windows[w + B][1] == length:
            B += 1
        starts = [all_windows[w + b][0] for b in range(B)]
        inputs = torch.stack([data[s:s + length] for s in starts])
        targets = torch.stack([data[s + 1:s + 1 + length] for s in starts])
        lp = log_probs(model, inputs, args.checkpoint)
        for b in range(B):
            k, probe = probes[w + b]
            diff = (lp[b, :k] - probe).abs().max().item()
            if not diff <= PROBE_TOLERANCE:
                fail(f"{args.checkpoint}: refused: the model is not causal (window {w + b}: "
                     f"outputs before byte {k} change by {diff:.3g} nats when later bytes "
                     f"are removed)")
            nll = -lp[b].gather(1, targets[b].unsqueeze(1)).squeeze(1)
            total_nats += float(nll.sum().item())
        w += B

    val_bpb = total_nats / math.log(2) / (n - 1)
    if not math.isfinite(val_bpb):
        fail(f"{args.checkpoint}: the model's loss on val.bin is not finite")
    seconds = time.monotonic() - start_time
    print(json.dumps({"val_bpb": val_bpb, "bytes": n - 1, "seq_len": seq_len,
                      "windows": len(all_windows), "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()

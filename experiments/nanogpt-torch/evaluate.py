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
"""

import argparse
import hashlib
import json
import math
import os
import random
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


def load_model(path: str):
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

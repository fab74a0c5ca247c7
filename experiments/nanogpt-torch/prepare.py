"""prepare.py: the King James Bible split into train.bin and val.bin.

Immutable side of the experiment (pinned by the spec; never in its mutable
set). The same split as ratchet-prepare (harness/prepare.h), to the byte, so
this experiment, the built-in trainer and ratchet-eval share one held-out
set: the corpus (Debian's `bible -f -l 0 Gen1:1-Rev22:21`) is cut into
4096-byte chunks; a chunk is validation iff the first 8 bytes of
SHA-256(seed as uint64 little-endian || chunk), big-endian, are below
val_fraction * 2^64. Writes DIR/train.bin, DIR/val.bin and DIR/manifest.json
(the manifest last, each atomically); writes nothing when DIR already holds
exactly this manifest and matching files.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

BIBLE_ARGV = ["bible", "-f", "-l", "0", "Gen1:1-Rev22:21"]
RULE = ("chunks of chunk_bytes in corpus order; a chunk is validation iff the first 8 bytes "
        "of SHA-256(seed as uint64 little-endian || chunk), big-endian, are < val_fraction * "
        "2^64; each side keeps its chunks in corpus order")


def fail(message: str):
    print(f"prepare.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_corpus() -> bytes:
    try:
        return subprocess.run(BIBLE_ARGV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              check=True).stdout
    except FileNotFoundError:
        fail(f"{' '.join(BIBLE_ARGV)}: program not found; install the Debian packages bible-kjv "
             "and bible-kjv-text (scripts/install-deps)")
    except subprocess.CalledProcessError as e:
        fail(f"{' '.join(BIBLE_ARGV)}: exited with status {e.returncode}")


def is_val_chunk(chunk: bytes, seed: int, val_fraction: float) -> bool:
    digest = hashlib.sha256(seed.to_bytes(8, "little") + chunk).digest()
    # int < float compares exactly in Python, as ratchet-prepare's long double does.
    return int.from_bytes(digest[:8], "big") < val_fraction * 2.0**64


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: str, data: bytes):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--chunk-bytes", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not 0.0 < args.val_fraction < 1.0:
        fail(f"--val-fraction: must be in (0, 1), got {args.val_fraction}")
    if args.chunk_bytes < 1:
        fail("--chunk-bytes: must be at least 1")

    text = read_corpus()
    train, val, chunks, val_chunks = [], [], 0, 0
    for start in range(0, len(text), args.chunk_bytes):
        chunk = text[start:start + args.chunk_bytes]
        chunks += 1
        if is_val_chunk(chunk, args.seed, args.val_fraction):
            val_chunks += 1
            val.append(chunk)
        else:
            train.append(chunk)
    if val_chunks in (0, chunks):
        fail(f"{chunks} chunks: one side of the split is empty")
    train_bytes, val_bytes = b"".join(train), b"".join(val)
    manifest = {
        "format": "ratchet-data",
        "version": 1,
        "source": {"description": "King James Bible (Debian bible-kjv, bible-kjv-text)",
                   "command": BIBLE_ARGV, "bytes": len(text), "sha256": sha256(text)},
        "split": {"rule": RULE, "chunk_bytes": args.chunk_bytes,
                  "val_fraction": args.val_fraction, "seed": args.seed, "chunks": chunks,
                  "val_chunks": val_chunks},
        "files": {"train.bin": {"bytes": len(train_bytes), "sha256": sha256(train_bytes)},
                  "val.bin": {"bytes": len(val_bytes), "sha256": sha256(val_bytes)}},
    }
    # ratchet-prepare's layout (nlohmann dump(2): sorted keys), so either tool
    # may fill the same folder without changing a pinned byte.
    manifest_text = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                     + "\n").encode()

    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name) for name in ("train.bin", "val.bin",
                                                            "manifest.json")}
    try:
        with open(paths["manifest.json"], "rb") as f:
            up_to_date = f.read() == manifest_text and all(
                os.path.getsize(paths[n]) == len(b) for n, b in
                (("train.bin", train_bytes), ("val.bin", val_bytes)))
    except OSError:
        up_to_date = False
    if not up_to_date:
        write_atomic(paths["train.bin"], train_bytes)
        write_atomic(paths["val.bin"], val_bytes)
        write_atomic(paths["manifest.json"], manifest_text)
    print(json.dumps({"up_to_date": up_to_date, "train_bytes": len(train_bytes),
                      "val_bytes": len(val_bytes), "out": args.out}))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Kernel speed figures for bench/RESULTS.md, section "Kernels".
#
#   bench/kbench.sh [BUILD_DIR] [REPEATS]
#
# For matmul: the template's default tune.json, a hand-found good tune and
# OpenBLAS (timed by the same ratchet-kbench run), GFLOP/s on the trainer's
# shapes, single thread and 2 threads. For softmax and attention: a
# straightforward kernel (tests/harness/kernels/naive_*.cpp), the template's
# default and a hand-found tune. Each configuration runs REPEATS times
# (default 3), interleaved, and the median metric is reported with the
# machine's load average, because a shared machine makes single timings lie.
# Also reports the wall seconds of one full kbench evaluation (the cost of
# one experiment of a kernel ratchet).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
repeats=${2:-3}
kbench=$build/bin/ratchet-kbench
[[ -x $kbench ]] || { echo "kbench.sh: $kbench not built (cmake --build $build --target ratchet-kbench)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Hand-found tunes (a few manual trials on this machine, not a ratchet).
echo '{"MC":96,"KC":256,"NC":1024,"MR":8,"NR":32,"VEC":16,"UNROLL":4,"LOOP_ORDER":0,"PACK":1}' >"$tmp/matmul_good.json"
echo '{"EXP":1,"VEC":8,"ACCUM":2,"STORE":1,"RECIP":1,"ROWS":16}' >"$tmp/softmax_good.json"
echo '{"EXP":1,"VEC":16,"BQ":4,"PACK_K":1,"AV_REGS":1}' >"$tmp/attention_good.json"

# run LABEL TYPE SOURCE DEFINES(or -) THREADS -> appends one JSON line per repeat to $tmp/LABEL.THREADS
run() {
  local label=$1 type=$2 source=$3 defines=$4 threads=$5
  local args=(--type "$type" --source "$source" --threads "$threads")
  [[ $defines != - ]] && args+=(--defines "$defines")
  "$kbench" "${args[@]}" >>"$tmp/$label.$threads" || {
    echo "kbench.sh: $label ($type, $threads threads) failed:" >&2
    tail -1 "$tmp/$label.$threads" >&2
    exit 1
  }
}

echo "# ratchet-kbench figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $repeats repeats, median)"
for ((r = 0; r < repeats; r++)); do
  for threads in 1 2; do
    run matmul_default matmul "$root/experiments/matmul/kernel.cpp" "$root/experiments/matmul/tune.json" $threads
    run matmul_good matmul "$root/experiments/matmul/kernel.cpp" "$tmp/matmul_good.json" $threads
  done
  for type in softmax attention; do
    run ${type}_naive $type "$root/tests/harness/kernels/naive_$type.cpp" - 1
    run ${type}_default $type "$root/experiments/$type/kernel.cpp" "$root/experiments/$type/tune.json" 1
    run ${type}_good $type "$root/experiments/$type/kernel.cpp" "$tmp/${type}_good.json" 1
  done
done

python3 - "$tmp" <<'PY'
import json, os, statistics, sys
tmp = sys.argv[1]

def rows(name):
    path = os.path.join(tmp, name)
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

print("\n## matmul, GFLOP/s (geometric mean over M×N×K = 4096×768×256, 4096×256×1024, 4096×1024×256)\n")
print("| threads | template default | hand-found tune | OpenBLAS | default / BLAS | tune / BLAS | load avg |")
print("|---|---|---|---|---|---|---|")
for threads in (1, 2):
    d, g = rows(f"matmul_default.{threads}"), rows(f"matmul_good.{threads}")
    blas = med([r.get("blas_gflops") for r in d + g])
    dm, gm = med([r["gflops"] for r in d]), med([r["gflops"] for r in g])
    load = med([r.get("loadavg") for r in d + g])
    print(f"| {threads} | {dm:.1f} | {gm:.1f} | {blas:.1f} | {dm / blas:.0%} | {gm / blas:.0%} | {load:.1f} |")

print("\n## matmul per shape, 1 thread (GFLOP/s, median)\n")
print("| shape | default | tune | OpenBLAS |")
print("|---|---|---|---|")
d, g = rows("matmul_default.1"), rows("matmul_good.1")
for i, shape in enumerate(b["shape"] for b in d[0]["bench"]):
    print(f"| {shape} | {med([r['bench'][i]['gflops'] for r in d]):.1f} | "
          f"{med([r['bench'][i]['gflops'] for r in g]):.1f} | "
          f"{med([r['bench'][i].get('blas_gflops') for r in d + g]):.1f} |")

for type, key, unit in (("softmax", "gbps", "GB/s"), ("attention", "gflops", "GFLOP/s")):
    print(f"\n## {type}, {unit}, 1 thread (geometric mean over {', '.join(b['shape'] for b in rows(type + '_naive.1')[0]['bench'])})\n")
    print("| straightforward | template default | hand-found tune | tune / straightforward |")
    print("|---|---|---|---|")
    n, d, g = (med([r[key] for r in rows(f"{type}_{v}.1")]) for v in ("naive", "default", "good"))
    print(f"| {n:.2f} | {d:.2f} | {g:.2f} | {g / n:.1f}× |")

print("\n## seconds per kbench evaluation (compile + checks + timing + BLAS; 1 thread)\n")
print("| run | median s | max s | experiments/hour at the median |")
print("|---|---|---|---|")
for name in ("matmul_default.1", "matmul_good.1", "softmax_default.1", "attention_default.1",
             "softmax_good.1", "attention_good.1"):
    secs = [r["seconds"] for r in rows(name)]
    print(f"| {name[:-2]} | {med(secs):.1f} | {max(secs):.1f} | {3600 / med(secs):.0f} |")
PY

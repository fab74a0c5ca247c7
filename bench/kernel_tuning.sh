#!/usr/bin/env bash
# What a kernel ratchet bought, for bench/RESULTS.md section "Kernels".
#
#   bench/kernel_tuning.sh BUILD_DIR MATMUL_WS [SOFTMAX_WS [ATTENTION_WS]] [-- REPEATS]
#
# MATMUL_WS (and the others) are workspaces of finished `ratchet run
# specs/<type>.json` ratchets. For each, in one run of this script:
#   - the best tune the ratchet kept (`ratchet best --format json` gives the
#     commit; its tune.json is read with `git show`),
#   - timed against the template's default tune.json, and for matmul against
#     OpenBLAS sgemm (timed by the same ratchet-kbench runs), single thread
#     and 2 threads; for softmax and attention against the straightforward
#     kernels of tests/harness/kernels/naive_*.cpp, single thread;
#   - REPEATS (default 3) interleaved repeats, median reported, with the load
#     average the bench saw, because the machine may be shared; both the
#     wall-time rates (what a user gets) and the CPU-time ones (what the
#     specs' ratchets optimize: steadier on a busy machine);
#   - the ratchet's pace: experiments per hour from `ratchet log --format
#     json` (first start to last end, over the experiments that ran).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset so OpenBLAS picks its kernel
# for this CPU; the kernel it picked is printed.
set -euo pipefail
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: bench/kernel_tuning.sh BUILD_DIR MATMUL_WS [SOFTMAX_WS [ATTENTION_WS]] [-- REPEATS]"
[[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
build=$1
shift
declare -A workspace
repeats=3
for type in matmul softmax attention; do
  [[ $# -gt 0 && $1 != -- ]] || break
  workspace[$type]=$1
  shift
done
if [[ $# -gt 0 && $1 == -- ]]; then repeats=${2:-3}; fi

kbench=$build/bin/ratchet-kbench
ratchet=$build/bin/ratchet
for program in "$kbench" "$ratchet"; do
  [[ -x $program ]] || { echo "kernel_tuning.sh: $program not built" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The tune.json of the best commit of each ratchet, and its pace.
for type in "${!workspace[@]}"; do
  ws=${workspace[$type]}
  "$ratchet" best --workspace "$ws" --format json >"$tmp/$type.best.json"
  "$ratchet" log --workspace "$ws" --format json >"$tmp/$type.log.json"
  commit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commit"])' "$tmp/$type.best.json")
  git -C "$ws" show "$commit:tune.json" >"$tmp/$type.tuned.json"
done

# run LABEL TYPE SOURCE DEFINES(or -) THREADS: one JSON line per repeat into $tmp/LABEL.THREADS
run() {
  local label=$1 type=$2 source=$3 defines=$4 threads=$5
  local args=(--type "$type" --source "$source" --threads "$threads")
  [[ $defines != - ]] && args+=(--defines "$defines")
  "$kbench" "${args[@]}" >>"$tmp/$label.$threads" || {
    echo "kernel_tuning.sh: $label ($type, $threads threads) failed:" >&2
    tail -1 "$tmp/$label.$threads" >&2
    exit 1
  }
}

echo "# kernel tuning figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $repeats repeats, median)"
echo "# uptime before: $(uptime)"
python3 - <<'PY'
import ctypes
lib = ctypes.CDLL("libopenblas.so.0")  # the name ratchet-kbench dlopens
lib.openblas_get_corename.restype = ctypes.c_char_p
lib.openblas_get_config.restype = ctypes.c_char_p
print(f"# OpenBLAS: {lib.openblas_get_config().decode()}, kernel {lib.openblas_get_corename().decode()}")
PY
for ((r = 0; r < repeats; r++)); do
  if [[ -n ${workspace[matmul]:-} ]]; then
    for threads in 1 2; do
      run matmul_default matmul "$root/experiments/matmul/kernel.cpp" "$root/experiments/matmul/tune.json" $threads
      run matmul_tuned matmul "$root/experiments/matmul/kernel.cpp" "$tmp/matmul.tuned.json" $threads
    done
  fi
  for type in softmax attention; do
    [[ -n ${workspace[$type]:-} ]] || continue
    run ${type}_naive $type "$root/tests/harness/kernels/naive_$type.cpp" - 1
    run ${type}_default $type "$root/experiments/$type/kernel.cpp" "$root/experiments/$type/tune.json" 1
    run ${type}_tuned $type "$root/experiments/$type/kernel.cpp" "$tmp/$type.tuned.json" 1
  done
done
echo "# uptime after: $(uptime)"

python3 - "$tmp" <<'PY'
import json, os, statistics, sys
tmp = sys.argv[1]

def rows(name):
    path = os.path.join(tmp, name)
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

def tune(type):
    return " ".join(f"{k} {v}" for k, v in json.load(open(os.path.join(tmp, f"{type}.tuned.json"))).items())

def pace(type):
    best = json.load(open(os.path.join(tmp, f"{type}.best.json")))
    log = json.load(open(os.path.join(tmp, f"{type}.log.json")))
    # Duplicates (a proposal whose files an earlier experiment already had)
    # are not measured: they do not count as experiments.
    ran = [e for e in log if e["seq"] > 0 and e.get("ended_at") and e["status"] != "duplicate"]
    count = lambda status: sum(e["status"] == status for e in ran)
    hours = (max(e["ended_at"] for e in ran) - min(e["started_at"] for e in ran)) / 3600
    measurements = sum(e["measurements"] for e in ran)
    print(f"\n{type} ratchet: {len(ran)} experiments ({count('accepted')} accepted, "
          f"{count('crashed')} crashed, {len(log) - 1 - len(ran)} duplicates skipped) in "
          f"{hours * 60:.1f} min = {len(ran) / hours:.0f} experiments/hour, "
          f"{hours * 3600 / measurements:.1f} s per kbench measurement ({measurements}, with the confirm re-measurements); "
          f"baseline {best['baseline_metric']:.2f}, best {best['metric']:.2f} at experiment {best['seq']} "
          f"(commit {best['commit'][:10]})")
    print(f"best tune: {tune(type)}")

if rows("matmul_default.1"):
    print("\n## matmul, GFLOP/s (geometric mean over the benchmark shapes "
          + ", ".join(b["shape"] for b in rows("matmul_default.1")[0]["bench"]) + ")\n")
    print("| threads | timer | template default | ratchet-tuned | OpenBLAS | default / BLAS | tuned / BLAS | tuned / default | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for threads in (1, 2):
        d, t = rows(f"matmul_default.{threads}"), rows(f"matmul_tuned.{threads}")
        load = med([r.get("loadavg") for r in d + t])
        # Wall time is what a user gets; CPU time (per CPU-second with 2 threads)
        # is what the ratchet optimizes, steadier on a busy machine.
        for timer, suffix in (("wall", ""), ("CPU", "_cpu")):
            blas = med([r.get("blas_gflops" + suffix) for r in d + t])
            dm, tm = med([r.get("gflops" + suffix) for r in d]), med([r.get("gflops" + suffix) for r in t])
            print(f"| {threads} | {timer} | {dm:.1f} | {tm:.1f} | {blas:.1f} | {dm / blas:.0%} | {tm / blas:.0%} | "
                  f"{tm / dm:.1f}× | {load:.1f} |")
    print("\nper shape, 1 thread (default / tuned / OpenBLAS, wall GFLOP/s):")
    d, t = rows("matmul_default.1"), rows("matmul_tuned.1")
    for i, b in enumerate(d[0]["bench"]):
        print(f"  {b['shape']}: {med([r['bench'][i]['gflops'] for r in d]):.1f} / "
              f"{med([r['bench'][i]['gflops'] for r in t]):.1f} / "
              f"{med([r['bench'][i].get('blas_gflops') for r in d + t]):.1f}")
    pace("matmul")

for type, key, unit in (("softmax", "gbps", "GB/s"), ("attention", "gflops", "GFLOP/s")):
    if not rows(f"{type}_naive.1"):
        continue
    print(f"\n## {type}, {unit}, 1 thread (geometric mean over "
          + ", ".join(b["shape"] for b in rows(f"{type}_naive.1")[0]["bench"]) + ")\n")
    print("| timer | straightforward | template default | ratchet-tuned | tuned / default | tuned / straightforward | load avg |")
    print("|---|---|---|---|---|---|---|")
    load = med([r.get("loadavg") for v in ("naive", "default", "tuned") for r in rows(f"{type}_{v}.1")])
    for timer, suffix in (("wall", ""), ("CPU", "_cpu")):
        n, d, t = (med([r.get(key + suffix) for r in rows(f"{type}_{v}.1")]) for v in ("naive", "default", "tuned"))
        print(f"| {timer} | {n:.2f} | {d:.2f} | {t:.2f} | {t / d:.1f}× | {t / n:.1f}× | {load:.1f} |")
    pace(type)
PY

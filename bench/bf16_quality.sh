#!/usr/bin/env bash
# Does "precision": "bf16" cost quality (issue 22)? The default recipe
# (experiments/tinygpt/train.json) trained with fp32 and with bf16 products:
# at equal tokens over SEEDS seeds (val_bpb by ratchet-eval, which is FP32
# either way), then at equal wall time (WALL seconds each, PAIRS pairs). The
# two precisions run back to back, in turn, so the machine's load falls on
# both; `uptime`'s load is printed before and after. OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE are unset, so FP32 runs OpenBLAS's own (fastest) kernel
# choice; the kernel is printed.
#   bench/bf16_quality.sh [--build DIR] [--tokens N] [--seeds S] [--wall SEC] [--pairs P]
set -euo pipefail
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build tokens=2000000 seeds=3 wall=120 pairs=1 threads=2
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --wall) wall=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--tokens N] [--seeds S] [--wall SEC] [--pairs P]" >&2; exit 2 ;;
  esac
done
bin=$build/bin
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $build_type == Release ]] || echo "WARNING: $build is a '$build_type' build; figures are meaningless" >&2
grep -qw avx512_bf16 /proc/cpuinfo || { echo "this CPU has no avx512_bf16: nothing to compare" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${RATCHET_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ratchet/kjv}
"$bin/ratchet-prepare" --out "$data" >/dev/null
for p in fp32 bf16; do
  python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['precision']=sys.argv[2]; print(json.dumps(c))" \
    "$root/experiments/tinygpt/train.json" "$p" >"$work/$p.json"
done
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# run PRECISION SEED BUDGET-FLAGS...: prints "tokens tokens_per_s val_bpb"
run() {
  local p=$1 seed=$2
  shift 2
  "$bin/ratchet-train" --config "$work/$p.json" --data "$data" --out "$work/$p.ckpt" --seed "$seed" \
    --threads "$threads" --log-every 0 "$@" >"$work/log"
  local s e
  s=$(grep '"summary"' "$work/log" | tail -n1)
  e=$("$bin/ratchet-eval" --checkpoint "$work/$p.ckpt" --data "$data" --threads "$threads" | tail -n1)
  echo "$(field "$s" tokens) $(field "$s" tokens_per_s) $(field "$e" val_bpb) $(field "$s" blas_core)"
}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; build $build ($build_type)," \
  "$(cd "$root" && git rev-parse --short HEAD); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "equal tokens ($tokens), seeds 1..$seeds: precision seed tokens tokens/s val_bpb blas_kernel"
for ((seed = 1; seed <= seeds; seed++)); do
  for p in fp32 bf16; do
    echo "$p $seed $(run $p $seed --token-budget "$tokens")" | tee -a "$work/tokens.txt"
  done
done
echo "equal wall time ($wall s), $pairs pair(s): precision seed tokens tokens/s val_bpb blas_kernel"
for ((pair = 1; pair <= pairs; pair++)); do
  for p in fp32 bf16; do
    echo "$p $pair $(run $p $pair --time-budget "$wall")" | tee -a "$work/wall.txt"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/tokens.txt" "$work/wall.txt" <<'PY'
import statistics, sys
for path, what in ((sys.argv[1], "equal tokens"), (sys.argv[2], "equal wall time")):
    rows = [l.split() for l in open(path)]
    bpb = {p: [float(r[4]) for r in rows if r[0] == p] for p in ("fp32", "bf16")}
    rate = {p: [float(r[3]) for r in rows if r[0] == p] for p in ("fp32", "bf16")}
    m = {p: statistics.mean(v) for p, v in bpb.items()}
    print(f"{what}: val_bpb fp32 {m['fp32']:.4f} ({' '.join(f'{x:.4f}' for x in bpb['fp32'])}), "
          f"bf16 {m['bf16']:.4f} ({' '.join(f'{x:.4f}' for x in bpb['bf16'])}); "
          f"bf16 - fp32 = {100 * (m['bf16'] / m['fp32'] - 1):+.2f}%; tokens/s median fp32 "
          f"{statistics.median(rate['fp32']):.0f}, bf16 {statistics.median(rate['bf16']):.0f}")
PY

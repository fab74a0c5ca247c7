#!/usr/bin/env bash
# Evaluator throughput (issue 3, "Measured in bench/" item 3): trains the
# default tinygpt recipe briefly, then times ratchet-eval on its checkpoint at
# the default slice (256 KiB of val.bin) with 1 and 2 threads, and reports the
# share of a 300 s experiment that evaluation plus the trainer's start-up take.
#
#   bench/eval_speed.sh [--build DIR] [--train-seconds S]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build train_seconds=10
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --train-seconds) train_seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--train-seconds S]" >&2; exit 2 ;;
  esac
done
bin=$build/bin
py=/usr/bin/python3
clean=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${RATCHET_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ratchet/kjv}
"${clean[@]}" "$bin/ratchet-prepare" --out "$data" >/dev/null
field() { $py -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

recipe=$root/experiments/tinygpt/train.json
start=$(date +%s.%N)
"${clean[@]}" "$bin/ratchet-train" --config "$recipe" --data "$data" --out "$work/m.ckpt" --seed 1 \
  --threads 2 --time-budget "$train_seconds" --log-every 0 >"$work/train.log"
end=$(date +%s.%N)
loop=$(field "$(grep '"summary"' "$work/train.log" | tail -n1)" seconds)
startup=$($py -c "print(round($end - $start - $loop, 2))")
echo "ratchet-train start-up + checkpoint write: $startup s (wall $($py -c "print(round($end - $start, 2))") s, loop $loop s)"

for threads in 1 2; do
  for run in 1 2 3; do
    out=$("${clean[@]}" "$bin/ratchet-eval" --checkpoint "$work/m.ckpt" --data "$data" --threads "$threads")
    echo "ratchet-eval threads=$threads run $run: $out"
  done
done
share=$($py -c "print(round(100 * ($startup + $(field "$out" seconds)) / 300, 2))")
echo "eval (2 threads) + train start-up = $share % of a 300 s experiment"

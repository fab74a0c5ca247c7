#!/usr/bin/env bash
# Trainer throughput: ratchet-train against its PyTorch twin (bench/torch_gpt.py)
# on four fixed configs, plus the 2-thread sgemm peer rate (issue 3, "Measured
# in bench/" item 1). Optional: --quality SECONDS also trains the default
# tinygpt recipe for SECONDS with both and scores both checkpoints with
# ratchet-eval (item 2).
#
#   bench/trainer_vs_torch.sh [--build DIR] [--seconds S] [--threads N] [--repeats R]
#                             [--configs tiny,small,wide4,deep8] [--quality S]
#                             [--before BIN]
#
# Each (config, runner) pair runs R times, interleaved, and the best tokens/s
# counts: other load on the machine can only slow a run down. Since a repeat
# runs ratchet and PyTorch back to back, each repeat also gives a paired
# ratio (ratchet / better PyTorch of that repeat); their median and range
# are printed under the table, the honest figure when a ratio sits near a
# target.
# PyTorch runs three ways: as installed (Debian's libblas.so.3 alternative,
# OpenBLAS pthread by default), and with LD_LIBRARY_PATH at Debian's OpenMP
# builds of OpenBLAS and BLIS. Needs scripts/install-bench-deps. Every command
# runs with OPENBLAS_L2_SIZE unset and OPENBLAS_CORETYPE set to the kernel
# ratchet-train picks for itself (trainer/runtime_env.h: OpenBLAS's own choice,
# unless it fell back to a pre-AVX2 kernel on a CPU it does not know), so all
# runners get the same OpenBLAS kernels; the kernel that ran is printed. The machine's other load
# distorts everything: run it on an idle machine and read the "load" line.
# Where the CPU has avx512_bf16, ratchet-train also runs each config with
# "precision": "bf16" (issue 22) right after its fp32 run, and the table
# adds its rate, bf16 / fp32 (best of each, and paired per repeat) and bf16
# against the better PyTorch.
# --before BIN: a ratchet-train binary of an earlier commit (a copy of
# build/bin/ratchet-train kept before a change) also runs each config's fp32
# right after ours in every repeat, so a change is measured before and after
# in the same run; the table adds its rate, % of sgemm and ours / before
# (best of each, and paired per repeat).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build seconds=15 threads=2 repeats=1 quality=0 configs=tiny,small,wide4,deep8 before=
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --quality) quality=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--seconds S] [--threads N] [--repeats R]" \
            "[--configs LIST] [--quality S] [--before BIN]" >&2
       exit 2 ;;
  esac
done
bin=$build/bin
py=/usr/bin/python3  # Debian's interpreter: python3-torch lives there
for p in ratchet-train ratchet-prepare ratchet-eval ratchet-bench-sgemm; do
  [[ -x $bin/$p ]] || { echo "missing $bin/$p: build first (scripts/build)" >&2; exit 1; }
done
[[ -z $before || -x $before ]] || { echo "--before: $before is not an executable" >&2; exit 1; }
$py -c 'import torch' 2>/dev/null || { echo "PyTorch missing: run scripts/install-bench-deps" >&2; exit 1; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $build_type == Release ]] || echo "WARNING: $build is a '$build_type' build; figures are meaningless" >&2

for name in ${configs//,/ }; do
  [[ $name == @(tiny|small|wide4|deep8) ]] ||
    { echo "--configs: unknown config '$name' (tiny, small, wide4, deep8)" >&2; exit 2; }
done
lib=/usr/lib/x86_64-linux-gnu
clean=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${RATCHET_BENCH_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/ratchet/kjv}
"${clean[@]}" "$bin/ratchet-prepare" --out "$data" >/dev/null

field() { $py -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
summary() { grep '"summary"' "$1" | tail -n1; }

echo '{"n_layer": 1, "n_embd": 32, "n_head": 2, "seq_len": 16, "batch_size": 2}' >"$work/probe.json"
"${clean[@]}" "$bin/ratchet-train" --config "$work/probe.json" --data "$data" --out "$work/probe.ckpt" \
  --seed 1 --threads 1 --token-budget 32 --log-every 0 >"$work/probe.log"
core=$(field "$(summary "$work/probe.log")" blas_core)
# The library of ratchet-train's fp32 products (trainer/gemm_fp32.h); a
# trainer older than that choice always ran OpenBLAS.
fp32_gemm=$($py -c 'import json,sys; print(json.loads(sys.argv[1]).get("fp32_gemm", "openblas"))' \
  "$(summary "$work/probe.log")")
clean=(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$core")

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $build ($build_type), $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "torch: $($py -c 'import torch; print(torch.__version__)'); threads: $threads; seconds per run: $seconds; repeats: $repeats (best counts)"
echo "OpenBLAS kernel for every runner: $core (ratchet-train's choice); ratchet-train's fp32 products: $fp32_gemm"
bf16=0
grep -qw avx512_bf16 /proc/cpuinfo && bf16=1
echo "ratchet-train bf16 runs: $( ((bf16)) && echo yes || echo 'no (no avx512_bf16)')"
[[ -z $before ]] || echo "before: $before (fp32, right after ours in every repeat)"
echo

# --- sgemm peer: best 2-thread GFLOP/s on transformer shapes, per BLAS ----------
# Measured before and after the throughput runs; the best reading counts.
best_sgemm=0
sgemm_peer() {
  for variant in openblas-openmp blis-openmp; do
    out=$("${clean[@]}" LD_LIBRARY_PATH=$lib/$variant OMP_NUM_THREADS=$threads \
          BLIS_NUM_THREADS=$threads "$bin/ratchet-bench-sgemm" 10 | tail -n1)
    g=$(field "$out" best_gflops)
    echo "sgemm $variant ($1): $g GFLOP/s best (blas $(field "$out" blas), kernel $(field "$out" corename))"
    best_sgemm=$($py -c "print(max($best_sgemm, $g))")
  done
}
sgemm_peer before
echo

# --- throughput on the four configs --------------------------------------------
# The faster OpenMP BLAS for torch on the first config of --configs (tiny by default),
# which the quality comparison uses.
first_config=${configs%%,*} best_first_rate=0 best_torch=blis-openmp
for spec in "tiny 4,128,4,128,16" "small 6,256,8,256,16" "wide4 4,384,6,256,16" \
            "deep8 8,256,8,256,16"; do
  name=${spec% *} shape=${spec#* }
  [[ ,$configs, == *,$name,* ]] || continue
  IFS=, read -r L C NH T B <<<"$shape"
  cfg=$work/$name.json
  cat >"$cfg" <<JSON
{"n_layer": $L, "n_embd": $C, "n_head": $NH, "seq_len": $T, "batch_size": $B,
 "activation": "gelu", "norm": "layernorm", "pos": "learned", "optimizer": "adamw"}
JSON
  sed 's/"optimizer": "adamw"/"optimizer": "adamw", "precision": "bf16"/' "$cfg" >"$work/$name.bf16.json"
  best() { $py -c "print(max(${1:-0}, $2))"; }
  ours=0 gflops=0 paired="" ours16=0 gflops16=0 paired16="" old=0 gflops_old=0 paired_old=""
  declare -A torch_rate=([stock]=0 [openblas-openmp]=0 [blis-openmp]=0)
  for ((rep = 1; rep <= repeats; rep++)); do
    "${clean[@]}" "$bin/ratchet-train" --config "$cfg" --data "$data" --out "$work/$name.ckpt" \
      --seed 1 --threads "$threads" --time-budget "$seconds" --log-every 0 >"$work/$name.r.log"
    r=$(summary "$work/$name.r.log")
    rep_ours=$(field "$r" tokens_per_s) rep_torch=0
    if $py -c "import sys; sys.exit(not $rep_ours > $ours)"; then
      ours=$rep_ours gflops=$(field "$r" gflops)
    fi
    if [[ -n $before ]]; then
      "${clean[@]}" "$before" --config "$cfg" --data "$data" --out "$work/$name.ckpt" \
        --seed 1 --threads "$threads" --time-budget "$seconds" --log-every 0 >"$work/$name.b.log"
      r=$(summary "$work/$name.b.log")
      rep_old=$(field "$r" tokens_per_s)
      if $py -c "import sys; sys.exit(not $rep_old > $old)"; then
        old=$rep_old gflops_old=$(field "$r" gflops)
      fi
      paired_old+=" $($py -c "print(f'{$rep_ours / $rep_old:.3f}')")"
    fi
    if ((bf16)); then
      "${clean[@]}" "$bin/ratchet-train" --config "$work/$name.bf16.json" --data "$data" \
        --out "$work/$name.ckpt" --seed 1 --threads "$threads" --time-budget "$seconds" \
        --log-every 0 >"$work/$name.r16.log"
      r=$(summary "$work/$name.r16.log")
      rep16=$(field "$r" tokens_per_s)
      if $py -c "import sys; sys.exit(not $rep16 > $ours16)"; then
        ours16=$rep16 gflops16=$(field "$r" gflops)
      fi
      paired16+=" $($py -c "print(f'{$rep16 / $rep_ours:.3f}')")"
    fi
    for variant in stock openblas-openmp blis-openmp; do
      ld=()
      [[ $variant == stock ]] || ld=(LD_LIBRARY_PATH=$lib/$variant)
      "${clean[@]}" "${ld[@]}" $py "$root/bench/torch_gpt.py" --shape "$shape" --data "$data" \
        --threads "$threads" --time-budget "$seconds" >"$work/$name.$variant.log"
      t=$(summary "$work/$name.$variant.log")
      torch_rate[$variant]=$(best "${torch_rate[$variant]}" "$(field "$t" tokens_per_s)")
      [[ $variant == stock ]] || rep_torch=$(best "$rep_torch" "$(field "$t" tokens_per_s)")
      ((rep > 1)) || echo "  $name torch $variant: blas $(field "$t" blas), kernel $(field "$t" corename)" >>"$work/blas.txt"
    done
    paired+=" $($py -c "print(f'{$rep_ours / $rep_torch:.3f}')")"
  done
  echo "$name$paired" >>"$work/paired.txt"
  ((bf16)) && echo "$name$paired16" >>"$work/paired16.txt"
  [[ -z $before ]] || echo "$name$paired_old" >>"$work/paired_old.txt"
  for variant in openblas-openmp blis-openmp; do
    if [[ $name == "$first_config" ]] &&
       $py -c "import sys; sys.exit(not ${torch_rate[$variant]} > $best_first_rate)"; then
      best_first_rate=${torch_rate[$variant]} best_torch=$variant
    fi
  done
  echo "$name $ours $gflops ${torch_rate[stock]} ${torch_rate[openblas-openmp]} ${torch_rate[blis-openmp]}" \
    "$ours16 $gflops16 $old $gflops_old" >>"$work/rows.txt"
  echo "  $name done: ratchet $ours tok/s" >&2
done
sgemm_peer after
echo "best sgemm: $best_sgemm GFLOP/s; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
$py - "$best_sgemm" "$work/rows.txt" <<'PY'
import sys
sgemm = float(sys.argv[1])
print(f"{'config':<6} {'ratchet':>9} {'GFLOP/s':>8} {'torch-stock':>11} {'torch-oblas':>11} "
      f"{'torch-blis':>10} {'vs-best':>8} {'vs-stock':>8} {'%sgemm':>7} {'bf16':>8} {'bf16/fp32':>9} "
      f"{'bf16-vs-best':>12} {'before':>8} {'GFLOP/s':>8} {'%sgemm':>7} {'ours/before':>11}  (tokens/s)")
for line in open(sys.argv[2]):
    name, *v = line.split()
    ours, gflops, stock, oblas, blis, ours16, gflops16, old, gflops_old = map(float, v)
    best = max(oblas, blis)
    bf16 = (f"{ours16:8.0f} {ours16 / ours:8.2f}x {ours16 / best:11.2f}x" if ours16 else
            f"{'-':>8} {'-':>9} {'-':>12}")
    was = (f"{old:8.0f} {gflops_old:8.1f} {100 * gflops_old / sgemm:6.0f}% {ours / old:10.2f}x"
           if old else f"{'-':>8} {'-':>8} {'-':>7} {'-':>11}")
    print(f"{name:<6} {ours:9.0f} {gflops:8.1f} {stock:11.0f} {oblas:11.0f} {blis:10.0f} "
          f"{ours / best:7.2f}x {ours / stock:7.2f}x {100 * gflops / sgemm:6.0f}% {bf16} {was}")
PY
echo
echo "Paired ratios (ratchet / better PyTorch, per repeat): median [min, max]"
$py - "$work/paired.txt" <<'PY'
import statistics, sys
for line in open(sys.argv[1]):
    name, *r = line.split()
    r = sorted(map(float, r))
    print(f"{name:<6} {statistics.median(r):.2f}x [{r[0]:.2f}, {r[-1]:.2f}] over {len(r)}: {' '.join(map(str, r))}")
PY
if [[ -n $before ]]; then
  echo
  echo "Paired ratios (ratchet fp32 / before fp32, per repeat): median [min, max]"
  $py - "$work/paired_old.txt" <<'PY'
import statistics, sys
for line in open(sys.argv[1]):
    name, *r = line.split()
    r = sorted(map(float, r))
    print(f"{name:<6} {statistics.median(r):.2f}x [{r[0]:.2f}, {r[-1]:.2f}] over {len(r)}: {' '.join(map(str, r))}")
PY
fi
if ((bf16)); then
  echo
  echo "Paired ratios (ratchet bf16 / ratchet fp32, per repeat): median [min, max]"
  $py - "$work/paired16.txt" <<'PY'
import statistics, sys
for line in open(sys.argv[1]):
    name, *r = line.split()
    r = sorted(map(float, r))
    print(f"{name:<6} {statistics.median(r):.2f}x [{r[0]:.2f}, {r[-1]:.2f}] over {len(r)}: {' '.join(map(str, r))}")
PY
fi
echo
echo "PyTorch BLAS per run:"
cat "$work/blas.txt"

# --- quality at equal wall time -------------------------------------------------
if [[ $quality != 0 ]]; then
  echo
  echo "quality: experiments/tinygpt/train.json, $quality s of training each, val_bpb by ratchet-eval"
  recipe=$root/experiments/tinygpt/train.json
  "${clean[@]}" "$bin/ratchet-train" --config "$recipe" --data "$data" --out "$work/q.ckpt" \
    --seed 1 --threads "$threads" --time-budget "$quality" --log-every 0 >"$work/q.r.log"
  "${clean[@]}" LD_LIBRARY_PATH=$lib/$best_torch $py "$root/bench/torch_gpt.py" --config "$recipe" \
    --data "$data" --threads "$threads" --time-budget "$quality" --out "$work/q.t.ckpt" >"$work/q.t.log"
  for who in r t; do
    ckpt=$work/q.ckpt
    [[ $who == t ]] && ckpt=$work/q.t.ckpt
    s=$(summary "$work/q.$who.log")
    e=$("${clean[@]}" "$bin/ratchet-eval" --checkpoint "$ckpt" --data "$data" --threads "$threads")
    label=ratchet-train
    [[ $who == t ]] && label="torch ($best_torch)"
    echo "  $label: $(field "$s" steps) steps, $(field "$s" tokens) tokens, val_bpb $(field "$e" val_bpb)"
  done
fi

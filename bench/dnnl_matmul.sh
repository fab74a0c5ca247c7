#!/usr/bin/env bash
# Do bf16 matrix products pay on this CPU (issue 22)? ratchet-bench-dnnl-matmul
# (oneDNN f32 and bf16 matmul against OpenBLAS sgemm and the trainer's sgemm
# pieces on the trainer's shapes) for tiny and small, 1 and 2 threads, under
# the machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE and with both unset
# (OpenBLAS's own kernel choice): one JSON line per product, then a
# table per kind of product: medians in ms, bf16 / best FP32, oneDNN-f32 /
# OpenBLAS, each with the kernel that ran. Needs oneDNN (scripts/install-deps).
#   bench/dnnl_matmul.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-11}
bin=$build/bin/ratchet-bench-dnnl-matmul
[[ -x $bin ]] || { echo "missing $bin: build first (scripts/build; oneDNN from scripts/install-deps)" >&2; exit 1; }
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $build_type == Release ]] || echo "WARNING: $build is a '$build_type' build; figures are meaningless" >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; oneDNN $(dpkg-query -W -f='${Version}' libdnnl2 2>/dev/null)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for config in tiny small; do
  for threads in 1 2; do
    OMP_NUM_THREADS=$threads "$bin" "$config" "$rounds" | tee -a "$out"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$threads "$bin" "$config" "$rounds" \
      | tee -a "$out"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
print(f"{'config':<6} {'thr':>3} {'kernel':<10} {'products':<12} {'openblas':>9} {'pieces':>8} "
      f"{'dnnl-f32':>9} {'dnnl-bf16':>9} {'bf16+cvt':>9} {'bf16/f32':>8} {'+cvt/f32':>8} {'dnnl/oblas':>10}")
for r in rows:
    m = r["ms"]
    print(f"{r['config']:<6} {r['threads']:>3} {r['blas_core']:<10} {r['kind']:<12} {m['openblas']:9.2f} "
          f"{m['pieces']:8.2f} {m['dnnl_f32']:9.2f} {m['dnnl_bf16']:9.2f} "
          f"{m['dnnl_bf16_with_conversion']:9.2f} {r['bf16_over_best_f32']:7.2f}x "
          f"{r['bf16_conv_over_best_f32']:7.2f}x {r['dnnl_f32_over_openblas']:9.2f}x")
print(f"oneDNN ISA: {rows[0]['dnnl_isa']}")
PY

#!/usr/bin/env bash
# The trainer's products cut into pieces (thread-count invariant) vs OpenBLAS's
# own threading, and the same pieces on oneDNN's f32 matmul (trainer/gemm_fp32.h:
# dnnl_pieces_ms, dnnl_over_pieces > 1 when oneDNN is faster), per config, under the machine's OpenBLAS kernel setting and
# with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (OpenBLAS's own choice, or
# ratchet's when that is pre-AVX2). Each line names the kernel that ran.
#   bench/gemm_pieces.sh [BUILD_DIR] [REPEATS] [THREADS]
set -euo pipefail
build=${1:-build}
repeats=${2:-15}
threads=${3:-2}
bin=$build/bin/ratchet-bench-gemm-pieces
for config in tiny small wide4; do
  OMP_NUM_THREADS=$threads "$bin" "$config" "$repeats"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$bin" "$config" "$repeats"
done

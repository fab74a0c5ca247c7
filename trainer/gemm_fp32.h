// Which library runs the fp32 matrix products: OpenBLAS sgemm (gemm_pieces.h)
// or oneDNN's f32 matmul (dnnl_pieces.h), both cut into the same pieces
// fixed by shape, so either is bitwise the same for any thread count.
//
// The choice is made once per process, by a fixed rule on what the two
// libraries run on this CPU (ChooseFp32Gemm), not by timing: a timed choice
// could differ from run to run, and the two libraries round differently, so
// a seeded run would no longer give the same result twice on one machine.
#pragma once

namespace ratchet::train {

enum class Fp32Gemm { kOpenBlas, kOneDnn };

// "openblas" or "onednn".
const char* Fp32GemmName(Fp32Gemm gemm);

// The rule: oneDNN when it can make an f32 matmul here (dnnl_available) and
// runs AVX-512 kernels (dnnl_avx512: avx512_core or better); OpenBLAS
// otherwise (on AVX2-only CPUs the two were not measured against each other).
Fp32Gemm ChooseFp32Gemm(bool dnnl_available, bool dnnl_avx512);

// The choice of this process, made on first call: RATCHET_FP32_GEMM=openblas
// or =onednn when set (for benchmarks: any other value means the rule), else
// ChooseFp32Gemm for this CPU.
Fp32Gemm Fp32GemmHere();

// Replaces the process's choice (tests compare both libraries in one process).
void SetFp32GemmForTesting(Fp32Gemm gemm);

// C[M,N] = op(A) · op(B) + beta · C (beta 0 or 1), row-major, op(X) = Xᵀ
// when trans_x, through `gemm`. REQUIRES: called at top level, one thread at
// a time (dnnl_pieces.h).
void fp32gemm_pieces(Fp32Gemm gemm, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                     int lda, const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace ratchet::train

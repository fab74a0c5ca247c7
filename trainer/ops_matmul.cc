// Matrix products through fp32gemm_pieces (OpenBLAS or oneDNN, the process's
// choice) or bf16gemm_pieces(_rounded) (row-major): cut into pieces fixed by shape, so
// results are the same for any thread count (gemm_pieces.h, gemm_fp32.h,
// gemm_bf16.h).
#include "trainer/gemm_bf16.h"
#include "trainer/gemm_fp32.h"
#include "trainer/ops.h"

namespace ratchet::train {

namespace {

// C[M,N] = op(A) · op(B) + beta · C in the given precision.
void Product(Precision precision, bool ta, bool tb, int M, int N, int K, const float* A, int lda,
             const float* B, int ldb, float beta, float* C, int ldc) {
  if (precision == Precision::kBf16) {
    bf16gemm_pieces(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  } else {
    fp32gemm_pieces(Fp32GemmHere(), ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
  }
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M,
                    Precision precision) {
  // out [N,M], inp [N,K], w [K,M]
  Product(precision, false, false, N, M, K, inp, K, w, M, 0.0f, out, M);
}

void matmul_forward_add(float* out, const float* inp, const float* w, int N, int K, int M,
                        Precision precision) {
  // out [N,M], inp [N,K], w [K,M]; beta 1: the BLAS skips its pass over out
  Product(precision, false, false, N, M, K, inp, K, w, M, 1.0f, out, M);
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M, Precision precision) {
  // dinp [N,K] or null, dw [K,M], dout [N,M], inp [N,K], w [K,M]
  if (dinp) Product(precision, false, true, N, K, M, dout, M, w, M, 0.0f, dinp, K);
  Product(precision, true, false, K, M, N, inp, K, dout, M, 1.0f, dw, M);
}

void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M,
                       Precision precision) {
  // out [N,M], inp [N,K], w [M,K]
  Product(precision, false, true, N, M, K, inp, K, w, K, 0.0f, out, M);
}

void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M, Precision precision) {
  // dinp [N,K] or null, dw [M,K], dout [N,M], inp [N,K], w [M,K]
  if (dinp) Product(precision, false, false, N, K, M, dout, M, w, K, 0.0f, dinp, K);
  Product(precision, true, false, M, K, N, dout, M, inp, K, 1.0f, dw, K);
}

// Rounded operands: the same products, the same leading dimensions, minus
// the rounding (bf16gemm_pieces_rounded).

void matmul_forward_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K, int M) {
  bf16gemm_pieces_rounded(false, false, N, M, K, inp, K, w, M, 0.0f, out, M);
}

void matmul_forward_add_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K,
                             int M) {
  bf16gemm_pieces_rounded(false, false, N, M, K, inp, K, w, M, 1.0f, out, M);
}

void matmul_backward_bf16(float* dinp, float* dw, const uint16_t* dout, const uint16_t* inp,
                          const uint16_t* w, int N, int K, int M) {
  if (dinp) bf16gemm_pieces_rounded(false, true, N, K, M, dout, M, w, M, 0.0f, dinp, K);
  bf16gemm_pieces_rounded(true, false, K, M, N, inp, K, dout, M, 1.0f, dw, M);
}

void matmul_wt_forward_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K,
                            int M) {
  bf16gemm_pieces_rounded(false, true, N, M, K, inp, K, w, K, 0.0f, out, M);
}

void matmul_wt_backward_bf16(float* dinp, float* dw, const uint16_t* dout, const uint16_t* inp,
                             const uint16_t* w, int N, int K, int M) {
  if (dinp) bf16gemm_pieces_rounded(false, false, N, K, M, dout, M, w, K, 0.0f, dinp, K);
  bf16gemm_pieces_rounded(true, false, M, K, N, dout, M, inp, K, 1.0f, dw, K);
}

}  // namespace ratchet::train

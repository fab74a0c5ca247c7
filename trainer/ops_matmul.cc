// Matrix products through sgemm_pieces (row-major): cut into pieces fixed by
// shape, so results are the same for any thread count (gemm_pieces.h).
#include "trainer/gemm_pieces.h"
#include "trainer/ops.h"

namespace ratchet::train {

void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [K,M]
  sgemm_pieces(false, false, N, M, K, 1.0f, inp, K, w, M, 0.0f, out, M);
}

void matmul_forward_add(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [K,M]; beta 1: OpenBLAS skips its pass over out
  sgemm_pieces(false, false, N, M, K, 1.0f, inp, K, w, M, 1.0f, out, M);
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M) {
  // dinp [N,K] or null, dw [K,M], dout [N,M], inp [N,K], w [K,M]
  if (dinp) sgemm_pieces(false, true, N, K, M, 1.0f, dout, M, w, M, 0.0f, dinp, K);
  sgemm_pieces(true, false, K, M, N, 1.0f, inp, K, dout, M, 1.0f, dw, M);
}

void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [M,K]
  sgemm_pieces(false, true, N, M, K, 1.0f, inp, K, w, K, 0.0f, out, M);
}

void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M) {
  // dinp [N,K] or null, dw [M,K], dout [N,M], inp [N,K], w [M,K]
  if (dinp) sgemm_pieces(false, false, N, K, M, 1.0f, dout, M, w, K, 0.0f, dinp, K);
  sgemm_pieces(true, false, M, K, N, 1.0f, dout, M, inp, K, 1.0f, dw, K);
}

}  // namespace ratchet::train

// Matrix products through cblas_sgemm (row-major). The BLAS threads these
// itself; callers must not be inside an omp parallel region.
#include <cblas.h>

#include "trainer/ops.h"

namespace ratchet::train {

void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [K,M]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, M, K, 1.0f, inp, K, w, M, 0.0f, out, M);
}

void matmul_forward_add(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [K,M]; beta 1: OpenBLAS skips its pass over out
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, M, K, 1.0f, inp, K, w, M, 1.0f, out, M);
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M) {
  // dinp [N,K] or null, dw [K,M], dout [N,M], inp [N,K], w [K,M]
  if (dinp) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, K, M, 1.0f, dout, M, w, M, 0.0f, dinp,
                K);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, M, N, 1.0f, inp, K, dout, M, 1.0f, dw, M);
}

void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M) {
  // out [N,M], inp [N,K], w [M,K]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, K, 1.0f, inp, K, w, K, 0.0f, out, M);
}

void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M) {
  // dinp [N,K] or null, dw [M,K], dout [N,M], inp [N,K], w [M,K]
  if (dinp) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, M, 1.0f, dout, M, w, K, 0.0f, dinp,
                K);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, K, N, 1.0f, dout, M, inp, K, 1.0f, dw, K);
}

}  // namespace ratchet::train

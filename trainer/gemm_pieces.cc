#include "trainer/gemm_pieces.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>

extern "C" void openblas_set_num_threads(int);

namespace ratchet::train {

namespace {

// Rows of the symmetric product's blocks: its pieces shrink along the
// triangle, so finer ones keep the threads balanced and skip more of the
// lower half.
constexpr int kMinSymmetricPiece = 32;

// Each piece must be one single-threaded call: a piece OpenBLAS threaded
// itself would again depend on the thread count. The OpenMP build already
// runs single-threaded inside a parallel region but not in a team of one;
// the pthread build never does. openblas_set_num_threads also sets OpenMP's
// thread count in the OpenMP build, so the caller's is put back.
void UseSingleThreadedBlas() {
  static const bool once = [] {
    const int threads = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(threads);
    return true;
  }();
  (void)once;
}

// Width of each piece when `extent` is cut into `pieces`: rounded up to 16
// so every piece but the last starts on a cache line of floats.
int PieceWidth(int extent, int pieces) {
  const int width = (extent + pieces - 1) / pieces;
  return (width + 15) / 16 * 16;
}

}  // namespace

int product_pieces(int extent, int min_piece) {
  int pieces = 1;
  while (pieces * 2 <= kMaxPieces && extent / (pieces * 2) >= min_piece) pieces *= 2;
  return pieces;
}

ProductCut cut_product(int M, int N, int K) {
  const bool by_rows = M >= N;
  const int extent = by_rows ? M : N;
  const int min_piece = K >= kLongSum ? kMinPieceLongSum : kMinPiece;
  const int width = PieceWidth(extent, product_pieces(extent, min_piece));
  return {by_rows, width, (extent + width - 1) / width};
}

void sgemm_pieces(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  UseSingleThreadedBlas();
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto [by_rows, width, pieces] = cut_product(M, N, K);
  const int extent = by_rows ? M : N;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < pieces; p++) {
    const int e0 = p * width, e = std::min(width, extent - e0);
    if (by_rows) {  // rows e0.. of C and of op(A)
      const float* a = A + (trans_a ? e0 : static_cast<size_t>(e0) * lda);
      cblas_sgemm(CblasRowMajor, ta, tb, e, N, K, alpha, a, lda, B, ldb, beta,
                  C + static_cast<size_t>(e0) * ldc, ldc);
    } else {  // columns e0.. of C and of op(B)
      const float* b = B + (trans_b ? static_cast<size_t>(e0) * ldb : e0);
      cblas_sgemm(CblasRowMajor, ta, tb, M, e, K, alpha, A, lda, b, ldb, beta, C + e0, ldc);
    }
  }
}

void ssyrk_pieces(int m, int k, float alpha, const float* A, int lda, float beta, float* C,
                  int ldc) {
  UseSingleThreadedBlas();
  const int width = PieceWidth(m, product_pieces(m, kMinSymmetricPiece));
  const int pieces = (m + width - 1) / width;
  // Block p: rows r0..r0+h of C, columns r0..m (its part of the upper
  // triangle). The first blocks are the largest: dynamic keeps threads even.
#pragma omp parallel for schedule(dynamic, 1)
  for (int p = 0; p < pieces; p++) {
    const int r0 = p * width, h = std::min(width, m - r0);
    const float* rows = A + static_cast<size_t>(r0) * lda;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, h, m - r0, k, alpha, rows, lda, rows, lda,
                beta, C + static_cast<size_t>(r0) * ldc + r0, ldc);
  }
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < i; j++) {
      C[static_cast<size_t>(i) * ldc + j] = C[static_cast<size_t>(j) * ldc + i];
    }
  }
}

}  // namespace ratchet::train

// Newton–Schulz orthogonalization for Muon (Keller Jordan's quintic
// iteration), in FP32 through gemm_pieces (thread-count invariant). Called by
// the optimizer once per hidden matrix per step, outside any omp parallel
// region (the pieces are its threads).
#include <algorithm>
#include <cassert>
#include <cmath>

#include "trainer/gemm_pieces.h"
#include "trainer/ops.h"

namespace ratchet::train {

namespace {

constexpr float kA = 3.4445f, kB = -4.7750f, kC = 2.0315f;

}  // namespace

size_t newton_schulz_scratch_floats(int rows, int cols) {
  const size_t m = std::min(rows, cols), n = std::max(rows, cols);
  return 2 * m * n + 2 * m * m;  // X, X_next [m,n]; A, Bm [m,m]
}

void newton_schulz(float* out, const float* g, float* scratch, int rows, int cols, int steps) {
  // out [rows,cols], g [rows,cols]; scratch: X, X_next [m,n], A, Bm [m,m]
  // with m = min(rows, cols), n = max(rows, cols): iterating on the wide
  // orientation keeps A = X Xᵀ the small [m,m] Gram matrix.
  assert(scratch != nullptr && rows > 0 && cols > 0);
  const bool transpose = rows > cols;
  const int m = std::min(rows, cols), n = std::max(rows, cols);
  const size_t mn = static_cast<size_t>(m) * n, mm = static_cast<size_t>(m) * m;
  float* X = scratch;
  float* X_next = X + mn;
  float* A = X_next + mn;
  float* Bm = A + mm;

  // Frobenius norm in double, serial: fixed order, deterministic.
  double norm2 = 0.0;
  for (size_t i = 0; i < mn; i++) norm2 += double(g[i]) * g[i];
  const float inv_norm = static_cast<float>(1.0 / (std::sqrt(norm2) + 1e-7));
  if (transpose) {
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        X[static_cast<size_t>(c) * n + r] = g[static_cast<size_t>(r) * cols + c] * inv_norm;
      }
    }
  } else {
    for (size_t i = 0; i < mn; i++) X[i] = g[i] * inv_norm;
  }

  for (int step = 0; step < steps; step++) {
    // A = X Xᵀ and Bm = b A + c A A are symmetric (A A = A Aᵀ): computed
    // as one triangle, at about half the flops of sgemm.
    ssyrk_pieces(m, n, 1.0f, X, n, 0.0f, A, m);
    std::copy(A, A + mm, Bm);
    ssyrk_pieces(m, m, kC, A, m, kB, Bm, m);
    // X_next = a X + Bm X
    std::copy(X, X + mn, X_next);
    sgemm_pieces(false, false, m, n, m, 1.0f, Bm, m, X, n, kA, X_next, n);
    std::swap(X, X_next);
  }

  if (transpose) {
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[static_cast<size_t>(r) * cols + c] = X[static_cast<size_t>(c) * n + r];
      }
    }
  } else {
    std::copy(X, X + mn, out);
  }
}

}  // namespace ratchet::train

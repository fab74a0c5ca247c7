// Causal multi-head attention on the packed qkv buffer.
//
// Each (batch, head) pair is one independent task: its products (q kᵀ and
// p v, and the backward's four) are small sgemms on strided views of qkv,
// run single-threaded inside one omp parallel loop over the pairs (the
// OpenMP build of OpenBLAS runs nested calls on one thread). Causality is
// exploited by cutting into blocks of kBlock: query block [i0, i1) only needs
// keys [0, i1), and key block [j0, j1) only queries [j0, T), which skips
// about 40% of the work at T = 256. (Hand-written register-tiled kernels for
// these shapes were tried and measured no faster than OpenBLAS's small-matrix
// kernels, so the BLAS stays.)
#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

namespace {

using internal::kLanes;
using internal::LoadN;
using internal::LoadV;
using internal::StoreN;
using internal::StoreV;
using internal::Vec;

// Measured: 32 a few % faster than 64 or 128 at T = 256. Must be a multiple
// of kLanes (see CausalSoftmaxRow).
constexpr int kBlock = 32;
static_assert(kBlock % kLanes == 0);

// In place on row[0..T): softmax over [0, t], zeros over (t, T).
inline void CausalSoftmaxRow(float* row, int t, int T) {
  const int n = t + 1;
  const float lowest = -std::numeric_limits<float>::max();
  // Whole vectors over [0, n_full), n_full = n rounded up to kLanes; lanes
  // past t hold scores of future keys (computed by the causal blocks, since
  // kBlock is a multiple of kLanes) and are masked out, then stored as zeros.
  // The last rows of a T that is not a multiple of kLanes take the
  // partial-vector path.
  const int n_full = (n + kLanes - 1) / kLanes * kLanes;
  if (n_full > T) {
    Vec max_v = internal::Splat(lowest);
    for (int u = 0; u < n; u += kLanes) {
      max_v = internal::MaxV(max_v, LoadN(row + u, std::min(kLanes, n - u), lowest));
    }
    const float maxv = internal::MaxLanes(max_v);
    Vec sum_v = {};
    for (int u = 0; u < n; u += kLanes) {
      const int count = std::min(kLanes, n - u);
      const Vec e = internal::MaskTail(internal::ExpV(LoadN(row + u, count) - maxv), count);
      StoreN(row + u, e, count);
      sum_v += e;
    }
    const float inv = 1.0f / internal::SumLanes(sum_v);
#pragma omp simd
    for (int u = 0; u < n; u++) row[u] *= inv;
    std::fill(row + n, row + T, 0.0f);
    return;
  }
  const int last = n_full - kLanes;  // the last, possibly partial, vector
  const internal::IVec lane = internal::LaneIndex();
  const auto valid = lane < (n - last);
  Vec max_v = valid ? LoadV(row + last) : internal::Splat(lowest);
  for (int u = 0; u < last; u += kLanes) max_v = internal::MaxV(max_v, LoadV(row + u));
  const float maxv = internal::MaxLanes(max_v);
  Vec sum_v = {};
  for (int u = 0; u < last; u += kLanes) {
    const Vec e = internal::ExpV(LoadV(row + u) - maxv);
    StoreV(row + u, e);
    sum_v += e;
  }
  const Vec e_last = valid ? internal::ExpV(LoadV(row + last) - maxv) : Vec{};
  StoreV(row + last, e_last);
  sum_v += e_last;
  const float inv = 1.0f / internal::SumLanes(sum_v);
  for (int u = 0; u < n_full; u += kLanes) StoreV(row + u, LoadV(row + u) * inv);
  std::fill(row + n_full, row + T, 0.0f);
}

// ds[0..t] = p * (dp - sum(p * dp)) * scale in place over the row dp = ds,
// zeros over (t, block_end): all that the products of the backward read.
inline void SoftmaxBackwardRow(float* ds, const float* p, int t, int block_end, float scale) {
  const int n = t + 1;
  const int n_full = (n + kLanes - 1) / kLanes * kLanes;
  if (n_full > block_end) {  // the ragged end of a T not a multiple of kLanes
    float dot = 0.0f;
    for (int u = 0; u < n; u++) dot += p[u] * ds[u];
    for (int u = 0; u < n; u++) ds[u] = p[u] * (ds[u] - dot) * scale;
    std::fill(ds + n, ds + block_end, 0.0f);
    return;
  }
  // Whole vectors as in CausalSoftmaxRow; lanes past t are masked.
  const int last = n_full - kLanes;
  const internal::IVec lane = internal::LaneIndex();
  const auto valid = lane < (n - last);
  Vec dot_v = {};
  for (int u = 0; u < last; u += kLanes) dot_v += LoadV(p + u) * LoadV(ds + u);
  dot_v += valid ? LoadV(p + last) * LoadV(ds + last) : Vec{};
  const float dot = internal::SumLanes(dot_v);
  for (int u = 0; u < last; u += kLanes) {
    StoreV(ds + u, LoadV(p + u) * (LoadV(ds + u) - dot) * scale);
  }
  StoreV(ds + last, valid ? LoadV(p + last) * (LoadV(ds + last) - dot) * scale : Vec{});
  std::fill(ds + n_full, ds + block_end, 0.0f);
}

}  // namespace

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  // out [B,T,C], att [B,NH,T,T], qkv [B,T,3C]; hs = C/NH
  assert(C % NH == 0);
  const int hs = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + static_cast<size_t>(b) * T * C3 + h * hs;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* att_bh = att + static_cast<size_t>(bh) * T * T;
    float* out_bh = out + static_cast<size_t>(b) * T * C + h * hs;
    // Scores by key panels: keys [j0, j0 + kBlock) meet queries [j0, T), so
    // each panel of kᵀ is packed once.
    for (int j0 = 0; j0 < T; j0 += kBlock) {
      const int cols = std::min(kBlock, T - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T - j0, cols, hs, scale,
                  q + static_cast<size_t>(j0) * C3, C3, k + static_cast<size_t>(j0) * C3, C3, 0.0f,
                  att_bh + static_cast<size_t>(j0) * T + j0, T);
    }
    for (int t = 0; t < T; t++) {
      CausalSoftmaxRow(att_bh + static_cast<size_t>(t) * T, t, T);
    }
    for (int i0 = 0; i0 < T; i0 += kBlock) {
      const int rows = std::min(kBlock, T - i0), cols = i0 + rows;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, cols, 1.0f,
                  att_bh + static_cast<size_t>(i0) * T, T, v, C3, 0.0f,
                  out_bh + static_cast<size_t>(i0) * C, C);
    }
  }
}

void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv,
                        const float* att, int B, int T, int C, int NH) {
  // dqkv [B,T,3C], scratch [B,NH,T,T], dout [B,T,C], qkv [B,T,3C],
  // att [B,NH,T,T]; hs = C/NH
  assert(C % NH == 0 && scratch != nullptr);
  const int hs = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const size_t qkv_off = static_cast<size_t>(b) * T * C3 + h * hs;
    const float* q = qkv + qkv_off;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv + qkv_off;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* att_bh = att + static_cast<size_t>(bh) * T * T;
    float* ds_bh = scratch + static_cast<size_t>(bh) * T * T;
    const float* dout_bh = dout + static_cast<size_t>(b) * T * C + h * hs;
    // dp = dout · vᵀ (lower-triangular blocks only, by key panels).
    for (int j0 = 0; j0 < T; j0 += kBlock) {
      const int cols = std::min(kBlock, T - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T - j0, cols, hs, 1.0f,
                  dout_bh + static_cast<size_t>(j0) * C, C, v + static_cast<size_t>(j0) * C3, C3,
                  0.0f, ds_bh + static_cast<size_t>(j0) * T + j0, T);
    }
    // ds = p * (dp - sum(p * dp)) * scale, zero above the diagonal up to the
    // end of the row's block.
    for (int t = 0; t < T; t++) {
      const int block_end = std::min(T, (t / kBlock + 1) * kBlock);
      SoftmaxBackwardRow(ds_bh + static_cast<size_t>(t) * T, att_bh + static_cast<size_t>(t) * T, t,
                         block_end, scale);
    }
    for (int i0 = 0; i0 < T; i0 += kBlock) {
      const int rows = std::min(kBlock, T - i0), cols = i0 + rows;
      // dv[i0..i0+rows) += pᵀ · dout over query rows [i0, T).
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, hs, T - i0, 1.0f,
                  att_bh + static_cast<size_t>(i0) * T + i0, T,
                  dout_bh + static_cast<size_t>(i0) * C, C, 1.0f, dv + static_cast<size_t>(i0) * C3,
                  C3);
      // dq[i0..i0+rows) += ds · k over keys [0, cols).
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, cols, 1.0f,
                  ds_bh + static_cast<size_t>(i0) * T, T, k, C3, 1.0f,
                  dq + static_cast<size_t>(i0) * C3, C3);
      // dk[i0..i0+rows) += dsᵀ · q over query rows [i0, T).
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, hs, T - i0, 1.0f,
                  ds_bh + static_cast<size_t>(i0) * T + i0, T, q + static_cast<size_t>(i0) * C3, C3,
                  1.0f, dk + static_cast<size_t>(i0) * C3, C3);
    }
  }
}

}  // namespace ratchet::train

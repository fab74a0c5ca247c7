// Causal multi-head attention on the packed qkv buffer.
//
// Each (batch, head) pair is one independent task, run whole by one thread of
// an omp parallel loop over the pairs. Its products are register-tiled
// kernels (attention_tiles.h) on operands packed once per pair into a
// per-thread buffer (kᵀ and vᵀ; q, k, v, dout rows only when the head size is
// not a whole number of vectors, padded), so they run at full vector width
// for any head size and skip what causality makes zero: query rows
// [i0, i0 + R) only meet keys below i0 + R, key rows [j0, j0 + R) only
// queries from j0 on. Measured in a wide4
// step (hs 64, T 256, `ratchet-train --profile`): attention 101 -> 76 ms
// (12.3% -> 10.0% of the step) against the same blocking on OpenBLAS's small
// sgemms (SkylakeX kernels), whose per-call packing and dispatch dominated
// at these sizes; the tiles themselves run at about the sgemm rate.
//
// Each block of tiles asks for the rows of q, k, v or dout that the next
// block reads first (PrefetchRows), and the short odd blocks come where the
// causal sums are shortest: a head's rows are read in place, and the tiles'
// own prefetch, a few rows ahead, left them waiting on memory each time a
// block met rows it had not read yet. Measured in a wide4 step
// (`ratchet-train --profile`, 3 interleaved runs): 63.5-64.4 -> 60.1-61.1 ms.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <vector>

#include "trainer/attention_tiles.h"
#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

namespace {

using internal::GatherTile;
using internal::kLanes;
using internal::LoadN;
using internal::LoadV;
using internal::RowDotTile;
using internal::ScatterTile;
using internal::StoreN;
using internal::StoreV;
using internal::ThreadBuffer;
using internal::Vec;
using internal::WithVectors;

// RowDot tiles: 6 query rows × 4 vectors of keys.
constexpr int kDotRows = 6;
constexpr int kDotVectors = 4;

// Gather and Scatter tiles: 24 accumulators in at most kAttentionZeros rows,
// since a tile of R rows reads p and ds up to R - 1 columns past the
// diagonal (zeros there: CausalSoftmaxRow, SoftmaxBackwardRow).
constexpr int TileRows(int vectors) { return std::min(kAttentionZeros, 24 / vectors); }
static_assert(kDotRows <= kLanes && kAttentionZeros % kLanes == 0);

// In place on row[0..T): softmax over [0, t], zeros from t + 1 over at least
// kAttentionZeros columns and over whatever RowDotCausal wrote past t.
inline void CausalSoftmaxRow(float* row, int t, int T) {
  const int n = t + 1;
  const float lowest = -std::numeric_limits<float>::max();
  // Whole vectors over [0, n_full), n_full = n rounded up to kLanes; lanes
  // past t hold scores of future keys (RowDotCausal computes whole vectors)
  // and are masked out, then stored as zeros.
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
  std::fill(row + n_full, row + std::min(T, n_full + kAttentionZeros), 0.0f);
}

// ds[0..t] = p * (dp - sum(p * dp)) * scale in place over the row dp = ds,
// zeros over (t, block_end), block_end >= t + kAttentionZeros or T: all that the
// products of the backward read.
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

// The rows of q, k, v and dout are a head's slice of much longer rows, too
// far apart for the hardware's stride prefetcher: the packing loops ask for
// the rows kAhead ahead themselves.
constexpr int kAhead = 8;

// Asks for rows [r0, r1) of x (n floats each, rows ldx apart; r0 may be
// negative): the rows the next block of tiles reads first.
void PrefetchRows(const float* x, int ldx, int r0, int r1, int n) {
  for (int r = std::max(r0, 0); r < r1; r++) {
    internal::PrefetchRow(x + static_cast<size_t>(r) * ldx, n);
  }
}

// bt[d][j] = x[j][d] for j < T, zeros for T <= j < Tp (x rows ldx apart), by
// kLanes × kLanes blocks transposed in registers.
void PackTransposed(float* bt, const float* x, int ldx, int T, int hs, int Tp) {
  for (int j0 = 0; j0 < Tp; j0 += kLanes) {
    for (int j = j0 + kLanes; j < std::min(T, j0 + 2 * kLanes); j++) {
      internal::PrefetchRow(x + static_cast<size_t>(j) * ldx, hs);
    }
    for (int d0 = 0; d0 < hs; d0 += kLanes) {
      const int cols = std::min(kLanes, hs - d0);
      Vec block[kLanes];
      for (int i = 0; i < kLanes; i++) {
        block[i] = j0 + i < T ? LoadN(x + static_cast<size_t>(j0 + i) * ldx + d0, cols) : Vec{};
      }
      internal::TransposeBlock(block);
      for (int c = 0; c < cols; c++) StoreV(bt + static_cast<size_t>(d0 + c) * Tp + j0, block[c]);
    }
  }
}

// xp[j][0, hsp) = x[j][0, hs) then zeros; hsp = hs rounded up to kLanes.
void PackRows(float* xp, const float* x, int ldx, int T, int hs, int hsp) {
  for (int j = 0; j < T; j++) {
    if (j + kAhead < T) internal::PrefetchRow(x + static_cast<size_t>(j + kAhead) * ldx, hs);
    const float* from = x + static_cast<size_t>(j) * ldx;
    float* to = xp + static_cast<size_t>(j) * hsp;
    for (int d = 0; d < hsp; d += kLanes) StoreV(to + d, LoadN(from + d, std::min(kLanes, hs - d)));
  }
}

// A head's rows as the Gather and Scatter tiles read them: in place (rows
// ldx apart) when hs is a whole number of vectors, else packed into xp
// with zero padding up to hsp.
struct HeadRows {
  const float* data;
  int ld;
};
HeadRows RowsForTiles(float* xp, const float* x, int ldx, int T, int hs, int hsp) {
  if (hs == hsp) return {x, ldx};
  PackRows(xp, x, ldx, T, hs, hsp);
  return {xp, hsp};
}

// Floats RowsForTiles needs at xp: none when it reads the rows in place.
size_t PackedRowsSize(int T, int hs, int hsp) {
  return hs == hsp ? 0 : static_cast<size_t>(T) * hsp;
}

// c[i][j] = scale · a[i] · bt[:, j] for j below i rounded up to whole
// vectors (and below T): what the causal softmax rows read.
void RowDotCausal(float* c, const float* a, int lda, const float* bt, int Tp, int hs, int T,
                  float scale) {
  // The first T % kDotRows rows, which meet the fewest keys, take tiles of 2
  // and 1 rows; whole tiles follow.
  const int lead = T % kDotRows;
  for (int i0 = 0; i0 < T; i0 = i0 < lead ? lead : i0 + kDotRows) {
    const int rows = i0 < lead ? lead : kDotRows;
    PrefetchRows(a, lda, i0 + rows, std::min(T, i0 + rows + kDotRows), hs);
    const int j_end = std::min(Tp, (i0 + rows + kLanes - 1) / kLanes * kLanes);
    for (int j0 = 0; j0 < j_end; j0 += kDotVectors * kLanes) {
      const int vectors = std::min(kDotVectors, (j_end - j0) / kLanes);
      float* c0 = c + static_cast<size_t>(i0) * T + j0;
      const float* a0 = a + static_cast<size_t>(i0) * lda;
      WithVectors(vectors, [&](auto nv_constant) {
        constexpr int nv = decltype(nv_constant)::value;
        if (rows == kDotRows) {
          RowDotTile<kDotRows, nv>(c0, T, a0, lda, bt + j0, Tp, hs, scale, T - j0);
          return;
        }
        int r = 0;
        for (; r + 2 <= rows; r += 2) {
          RowDotTile<2, nv>(c0 + static_cast<size_t>(r) * T, T, a0 + static_cast<size_t>(r) * lda,
                            lda, bt + j0, Tp, hs, scale, T - j0);
        }
        if (r < rows) {
          RowDotTile<1, nv>(c0 + static_cast<size_t>(r) * T, T, a0 + static_cast<size_t>(r) * lda,
                            lda, bt + j0, Tp, hs, scale, T - j0);
        }
      });
    }
  }
}

// c[i][0, hs) = Σ_{j <= i} w[i][j] m[j][0, hs); w rows T apart, zero past
// the diagonal for at least kAttentionZeros columns; m rows ldm apart,
// hsp = hs rounded up to whole vectors readable in each.
void GatherCausal(float* c, int ldc, const float* w, const float* m, int ldm, int hsp, int hs,
                  int T) {
  for (int v0 = 0; v0 * kLanes < hsp; v0 += kDotVectors) {
    const int vectors = std::min(kDotVectors, hsp / kLanes - v0);
    const int valid = hs - v0 * kLanes, col = v0 * kLanes;
    WithVectors(vectors, [&](auto nv_constant) {
      constexpr int nv = decltype(nv_constant)::value, R = TileRows(nv);
      // The first T % R rows, the shortest sums, one by one; whole tiles follow.
      const int lead = T % R;
      for (int r = 0; r < lead; r++) {
        GatherTile<1, nv>(c + static_cast<size_t>(r) * ldc + col, ldc,
                          w + static_cast<size_t>(r) * T, T, m + col, ldm, r + 1, valid);
      }
      for (int i0 = lead; i0 < T; i0 += R) {
        PrefetchRows(m + col, ldm, i0 + R, std::min(T, i0 + 2 * R), nv * kLanes);
        GatherTile<R, nv>(c + static_cast<size_t>(i0) * ldc + col, ldc,
                          w + static_cast<size_t>(i0) * T, T, m + col, ldm, i0 + R, valid);
      }
    });
  }
}

// c[j][0, hs) = Σ_{i >= j} w[i][j] m[i][0, hs); w as for GatherCausal.
void ScatterCausal(float* c, int ldc, const float* w, const float* m, int ldm, int hsp, int hs,
                   int T) {
  for (int v0 = 0; v0 * kLanes < hsp; v0 += kDotVectors) {
    const int vectors = std::min(kDotVectors, hsp / kLanes - v0);
    const int valid = hs - v0 * kLanes, col = v0 * kLanes;
    WithVectors(vectors, [&](auto nv_constant) {
      constexpr int nv = decltype(nv_constant)::value, R = TileRows(nv);
      // From the last columns, whose sums are the shortest, down: each block
      // reads R rows of m more than the one before, asked for a block ahead.
      const int whole = T - T % R;
      for (int j = T - 1; j >= whole; j--) {
        ScatterTile<1, nv>(c + static_cast<size_t>(j) * ldc + col, ldc, w + j, T, m + col, ldm, j,
                           T, valid);
      }
      for (int j0 = whole - R; j0 >= 0; j0 -= R) {
        PrefetchRows(m + col, ldm, j0 - R, j0, nv * kLanes);
        ScatterTile<R, nv>(c + static_cast<size_t>(j0) * ldc + col, ldc, w + j0, T, m + col, ldm,
                           j0, T, valid);
      }
    });
  }
}

int RoundUpToLanes(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

}  // namespace

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  // out [B,T,C], att [B,NH,T,T], qkv [B,T,3C]; hs = C/NH
  assert(C % NH == 0);
  const int hs = C / NH, C3 = 3 * C, Tp = RoundUpToLanes(T), hsp = RoundUpToLanes(hs);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + static_cast<size_t>(b) * T * C3 + h * hs;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* att_bh = att + static_cast<size_t>(bh) * T * T;
    float* out_bh = out + static_cast<size_t>(b) * T * C + h * hs;
    float* kt = ThreadBuffer(static_cast<size_t>(hs) * Tp + PackedRowsSize(T, hs, hsp));
    float* vp = kt + static_cast<size_t>(hs) * Tp;
    PackTransposed(kt, k, C3, T, hs, Tp);
    const HeadRows vr = RowsForTiles(vp, v, C3, T, hs, hsp);
    RowDotCausal(att_bh, q, C3, kt, Tp, hs, T, scale);
    for (int t = 0; t < T; t++) {
      CausalSoftmaxRow(att_bh + static_cast<size_t>(t) * T, t, T);
    }
    GatherCausal(out_bh, C, att_bh, vr.data, vr.ld, hsp, hs, T);
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH) {
  // dqkv [B,T,3C], dout [B,T,C], qkv [B,T,3C], att [B,NH,T,T]; hs = C/NH
  assert(C % NH == 0);
  const int hs = C / NH, C3 = 3 * C, Tp = RoundUpToLanes(T), hsp = RoundUpToLanes(hs);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const size_t rows = PackedRowsSize(T, hs, hsp);
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
    const float* dout_bh = dout + static_cast<size_t>(b) * T * C + h * hs;
    // ds lives in the thread's buffer too: it stays in cache, where a
    // [B,NH,T,T] scratch array was written back to memory and read again.
    float* ds_bh =
        ThreadBuffer(static_cast<size_t>(T) * T + static_cast<size_t>(hs) * Tp + 3 * rows);
    float* vt = ds_bh + static_cast<size_t>(T) * T;
    float* qp = vt + static_cast<size_t>(hs) * Tp;
    float* kp = qp + rows;
    float* doutp = kp + rows;
    PackTransposed(vt, v, C3, T, hs, Tp);
    const HeadRows qr = RowsForTiles(qp, q, C3, T, hs, hsp);
    const HeadRows kr = RowsForTiles(kp, k, C3, T, hs, hsp);
    const HeadRows doutr = RowsForTiles(doutp, dout_bh, C, T, hs, hsp);
    // dp = dout · vᵀ, then ds = p * (dp - sum(p * dp)) * scale in place.
    RowDotCausal(ds_bh, dout_bh, C, vt, Tp, hs, T, 1.0f);
    for (int t = 0; t < T; t++) {
      SoftmaxBackwardRow(ds_bh + static_cast<size_t>(t) * T, att_bh + static_cast<size_t>(t) * T, t,
                         std::min(T, t + kAttentionZeros), scale);
    }
    ScatterCausal(dv, C3, att_bh, doutr.data, doutr.ld, hsp, hs, T);  // dv = pᵀ · dout
    GatherCausal(dq, C3, ds_bh, kr.data, kr.ld, hsp, hs, T);          // dq = ds · k
    ScatterCausal(dk, C3, ds_bh, qr.data, qr.ld, hsp, hs, T);         // dk = dsᵀ · q
  }
}

}  // namespace ratchet::train

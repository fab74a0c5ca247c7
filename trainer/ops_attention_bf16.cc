// Causal multi-head attention with its six products on bf16 operands and
// f32 sums (AVX512_BF16 dot products), for "precision": "bf16". The layout of
// the work is ops_attention.cc's: one (batch, head) pair per task, operands
// packed once per pair into the thread's buffer, register tiles that skip
// what causality makes zero. The softmax stays FP32 on FP32 scores. In place
// of FP32 att, the forward keeps p rounded to bf16, in the row pairs the
// backward's pᵀ dout reads (half the bytes to memory and back, no packing
// there), and the backward takes sum(p * dp) of a row as dout · out in FP32
// (the same sum, dp = dout vᵀ and out = p v, from the same rounded dout, v
// and p), so p is only needed elementwise. (Recomputing p from q kᵀ and the
// rows' max and sum instead cost more: at head size 32 the exponentials are
// a third of the products; bench/RESULTS.md, "bf16 attention".)
//
// A dot-product instruction sums pairs of neighbours along the summed index,
// so every operand is packed in bf16 with those pairs side by side:
//
//   RowDot   s = q kᵀ, dp = dout vᵀ   sums over d: rows of q (dout) as bf16
//            rows; kᵀ (vᵀ) as pairs (k[j][2p], k[j][2p+1]) laid out [p][j]
//   Gather   out = p v, dq = ds k      sums over keys s: rows of p (ds), zero
//            past the diagonal; v (k) as row pairs (v[2s][c], v[2s+1][c])
//   Scatter  dv = pᵀ dout, dk = dsᵀ q  sums over queries r: p (ds) and dout
//            (q) both as row pairs
//
// Each pair is one 32-bit lane, broadcast or loaded sixteen at a time; an odd
// head size or T ends in a zero partner. Packing costs O(T²) per pair against
// the products' O(T² hs).
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "trainer/attention_tiles.h"
#include "trainer/ops.h"
#include "trainer/ops_math.h"

// Every function below may use AVX512_BF16; only Bf16Supported() CPUs call
// them. The headers above keep the build's own target.
#pragma GCC target("avx512f,avx512bw,avx512bf16")

namespace ratchet::train {

namespace {

using internal::kLanes;
using internal::Vec;

// bf16 values: 16-bit, a float's top half (gemm_bf16.h).
using Bf16 = uint16_t;

// RowDot tiles: 6 query rows × 4 vectors of keys, as in ops_attention.cc.
constexpr int kDotRows = 6;
constexpr int kDotVectors = 4;

// Gather and Scatter tiles: 24 accumulators in at most kAttentionZeros rows.
constexpr int TileRows(int vectors) { return std::min(kAttentionZeros, 24 / vectors); }

int RoundUp(int n, int m) { return (n + m - 1) / m * m; }

__mmask16 FirstLanes(int n) {
  return n >= kLanes ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// 16 floats from p, lanes >= n zero (and not read).
__m512 LoadFirst(const float* p, int n) { return _mm512_maskz_loadu_ps(FirstLanes(n), p); }

// The pair at p (two bf16 values, 4-byte aligned or not) in every lane.
__m512bh SplatPair(const Bf16* p) {
  int32_t pair;
  std::memcpy(&pair, p, 4);
  return (__m512bh)_mm512_set1_epi32(pair);
}

__m512bh LoadPairs(const Bf16* p) { return (__m512bh)_mm512_loadu_si512(p); }

// 32 bf16 values: a[0..16) and b[0..16) interleaved, a[0] b[0] a[1] b[1] ...
__m512i InterleaveRounded(__m512 a, __m512 b) {
  const __m512i order = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  // cvtne2ps puts its second operand in the low half.
  return _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

// ---------------------------------------------------------------- packing

// to[0, width) = from[0, n) · scale rounded, zeros after (width a multiple
// of 16).
void PackRow(Bf16* to, const float* from, int n, int width, float scale = 1.0f) {
  const __m512 scale_v = _mm512_set1_ps(scale);
  for (int c = 0; c < width; c += kLanes) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(to + c),
        (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(LoadFirst(from + c, n - c), scale_v)));
  }
}

// to[0, width) = pairs (a[c] · sa, b[c] · sb) of a[0, na) and b[0, nb)
// rounded, zeros after (b unread when nb is 0).
void PackPair(Bf16* to, const float* a, int na, const float* b, int nb, int width, float sa = 1.0f,
              float sb = 1.0f) {
  const __m512 sa_v = _mm512_set1_ps(sa), sb_v = _mm512_set1_ps(sb);
  for (int c = 0; c < width; c += kLanes) {
    _mm512_storeu_si512(to + 2 * c,
                        InterleaveRounded(_mm512_mul_ps(LoadFirst(a + c, na - c), sa_v),
                                          _mm512_mul_ps(LoadFirst(b + c, nb - c), sb_v)));
  }
}

// out[r] = x[r][0, cols) rounded, rows ldo apart, zeros up to ldo.
void PackRows(Bf16* out, int ldo, const float* x, int ldx, int rows, int cols) {
  for (int r = 0; r < rows; r++) {
    PackRow(out + static_cast<size_t>(r) * ldo, x + static_cast<size_t>(r) * ldx, cols, ldo);
  }
}

// out[p][c] = (x[2p][c], x[2p + 1][c]) for p < ceil(rows / 2), c < ldo, row
// `rows` and columns from cols as zeros.
void PackRowPairs(Bf16* out, int ldo, const float* x, int ldx, int rows, int cols) {
  for (int r = 0; r < rows; r += 2) {
    const float* a = x + static_cast<size_t>(r) * ldx;
    PackPair(out + static_cast<size_t>(r) * ldo, a, cols, a + ldx, r + 1 < rows ? cols : 0, ldo);
  }
}

// Columns of a causal row r of p or ds that the tiles read: [0, r + R] for
// Gather's rows, [0, 2p + R] for Scatter's pair p = r / 2 (R <= 16, the tile
// rows), so whole vectors up to 16 past the diagonal; the zeros further
// right, half of the square, are never written.
int CausalWidth(int r, int ld) { return std::min(ld, RoundUp(r + 2, kLanes) + kLanes); }

// bt[p][j] = (x[j][2p], x[j][2p + 1]) for j < ldb (zeros from T), p <
// ceil(hs / 2): xᵀ as pairs, by 16 × 16 blocks of pairs transposed in
// registers.
void PackTransposedPairs(Bf16* bt, int ldb, const float* x, int ldx, int T, int hs) {
  const int pairs = (hs + 1) / 2;
  for (int j0 = 0; j0 < ldb; j0 += kLanes) {
    for (int p0 = 0; p0 < pairs; p0 += kLanes) {
      const int d0 = 2 * p0;
      Vec block[kLanes];  // row j0 + i's pairs p0 .. p0 + 16, one per lane
      for (int i = 0; i < kLanes; i++) {
        __m512i packed = _mm512_setzero_si512();
        if (j0 + i < T) {
          const float* row = x + static_cast<size_t>(j0 + i) * ldx + d0;
          packed = (__m512i)_mm512_cvtne2ps_pbh(LoadFirst(row + kLanes, hs - d0 - kLanes),
                                                LoadFirst(row, hs - d0));
        }
        std::memcpy(&block[i], &packed, sizeof(Vec));
      }
      internal::TransposeBlock(block);  // moves 32-bit lanes: pairs stay whole
      for (int c = 0; c < std::min(kLanes, pairs - p0); c++) {
        std::memcpy(bt + (static_cast<size_t>(p0 + c) * ldb + j0) * 2, &block[c], sizeof(Vec));
      }
    }
  }
}

// ---------------------------------------------------------------- softmax

// row[0, n) = exp(row - max(row)) in place (FP32, masked vectors); returns
// 1 / the sum of the exponentials.
float ExpRow(float* row, int n) {
  const __m512 lowest = _mm512_set1_ps(-std::numeric_limits<float>::max());
  __m512 max_v = lowest;
  for (int u = 0; u < n; u += kLanes) {
    max_v = _mm512_max_ps(max_v, _mm512_mask_loadu_ps(lowest, FirstLanes(n - u), row + u));
  }
  const float maxv = _mm512_reduce_max_ps(max_v);
  __m512 sum = _mm512_setzero_ps();
  for (int u = 0; u < n; u += kLanes) {
    const __mmask16 lanes = FirstLanes(n - u);
    const __m512 e = (__m512)internal::ExpV((Vec)_mm512_maskz_loadu_ps(lanes, row + u) - maxv);
    _mm512_mask_storeu_ps(row + u, lanes, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(lanes, e));
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

// Σ_d a[d] b[d] over n values, a bf16 (padded with zeros to whole vectors),
// in FP32.
float Dot(const Bf16* a, const float* b, int n) {
  __m512 sum = _mm512_setzero_ps();
  for (int d = 0; d < n; d += kLanes) {
    const __m256i a16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + d));
    const __m512 a32 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(a16), 16));
    sum = _mm512_fmadd_ps(a32, LoadFirst(b + d, n - d), sum);
  }
  return _mm512_reduce_add_ps(sum);
}

// ---------------------------------------------------------------- tiles

void StoreTile(float* c, __m512 v, int valid) { internal::StoreTileVector(c, (Vec)v, valid); }

// C[r][v·16 ..] = scale · Σ_p A[r] pair p · Bt[p][v·16 ..] for r < R, v < NV:
// RowDot's products (Bt transposed pairs), and Gather's (Bt = M in row pairs).
template <int R, int NV>
void RowDotTile(float* c, int ldc, const Bf16* a, int lda, const Bf16* bt, int ldb, int pairs,
                float scale, int valid) {
  __m512 acc[R][NV];
  for (auto& row : acc) {
    for (__m512& x : row) x = _mm512_setzero_ps();
  }
  for (int p = 0; p < pairs; p++) {
    __m512bh b[NV];
    for (int v = 0; v < NV; v++)
      b[v] = LoadPairs(bt + (static_cast<size_t>(p) * ldb + v * kLanes) * 2);
    for (int r = 0; r < R; r++) {
      const __m512bh s = SplatPair(a + static_cast<size_t>(r) * lda + 2 * p);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], s, b[v]);
    }
  }
  const __m512 scale_v = _mm512_set1_ps(scale);
  for (int r = 0; r < R; r++) {
    for (int v = 0; v < NV && v * kLanes < valid; v++) {
      StoreTile(c + static_cast<size_t>(r) * ldc + v * kLanes, _mm512_mul_ps(acc[r][v], scale_v),
                valid - v * kLanes);
    }
  }
}

// C[s][v·16 ..] = Σ_{p0 <= p < p1} W[p][s] · M[p][v·16 ..] for s < R, both in
// row pairs (a pair of query rows each).
template <int R, int NV>
void ScatterTile(float* c, int ldc, const Bf16* w, int ldw, const Bf16* m, int ldm, int p0, int p1,
                 int valid) {
  __m512 acc[R][NV];
  for (auto& row : acc) {
    for (__m512& x : row) x = _mm512_setzero_ps();
  }
  for (int p = p0; p < p1; p++) {
    __m512bh b[NV];
    for (int v = 0; v < NV; v++)
      b[v] = LoadPairs(m + (static_cast<size_t>(p) * ldm + v * kLanes) * 2);
    const Bf16* w_row = w + static_cast<size_t>(p) * ldw * 2;
    for (int s = 0; s < R; s++) {
      const __m512bh x = SplatPair(w_row + 2 * s);
      for (int v = 0; v < NV; v++) acc[s][v] = _mm512_dpbf16_ps(acc[s][v], x, b[v]);
    }
  }
  for (int s = 0; s < R; s++) {
    for (int v = 0; v < NV && v * kLanes < valid; v++) {
      StoreTile(c + static_cast<size_t>(s) * ldc + v * kLanes, acc[s][v], valid - v * kLanes);
    }
  }
}

// ---------------------------------------------------------------- causal drivers

// c[i][j] = scale · a[i] · bt[:, j] for j below i rounded up to whole
// vectors (and below T); a as bf16 rows (lda), bt as transposed pairs (ldb).
template <int NV>
void RowDotBlock(float* c, int T, const Bf16* a, int lda, const Bf16* bt, int ldb, int pairs,
                 int rows, float scale, int valid) {
  if (rows == kDotRows) {
    RowDotTile<kDotRows, NV>(c, T, a, lda, bt, ldb, pairs, scale, valid);
    return;
  }
  int r = 0;
  for (; r + 2 <= rows; r += 2) {
    RowDotTile<2, NV>(c + static_cast<size_t>(r) * T, T, a + static_cast<size_t>(r) * lda, lda, bt,
                      ldb, pairs, scale, valid);
  }
  if (r < rows) {
    RowDotTile<1, NV>(c + static_cast<size_t>(r) * T, T, a + static_cast<size_t>(r) * lda, lda, bt,
                      ldb, pairs, scale, valid);
  }
}

void RowDotCausal(float* c, const Bf16* a, int lda, const Bf16* bt, int ldb, int hs, int T,
                  float scale) {
  const int pairs = (hs + 1) / 2;
  const int lead = T % kDotRows;  // the shortest rows first, in tiles of 2 and 1
  for (int i0 = 0; i0 < T; i0 = i0 < lead ? lead : i0 + kDotRows) {
    const int rows = i0 < lead ? lead : kDotRows;
    const int j_end = std::min(ldb, RoundUp(i0 + rows, kLanes));
    for (int j0 = 0; j0 < j_end; j0 += kDotVectors * kLanes) {
      float* c0 = c + static_cast<size_t>(i0) * T + j0;
      const Bf16* a0 = a + static_cast<size_t>(i0) * lda;
      const Bf16* b0 = bt + static_cast<size_t>(j0) * 2;
      internal::WithVectors(std::min(kDotVectors, (j_end - j0) / kLanes), [&](auto nv) {
        RowDotBlock<decltype(nv)::value>(c0, T, a0, lda, b0, ldb, pairs, rows, scale, T - j0);
      });
    }
  }
}

// c[i][0, hs) = Σ_{j <= i} w[i][j] m[j][0, hs); w as bf16 rows (ldw), zero
// past the diagonal; m in row pairs of ldm columns (hs rounded up to vectors).
template <int NV>
void GatherColumns(float* c, int ldc, const Bf16* w, int ldw, const Bf16* m, int ldm, int T,
                   int valid) {
  constexpr int R = TileRows(NV);
  const int lead = T % R;  // the shortest sums one row at a time, then whole tiles
  for (int r = 0; r < lead; r++) {
    RowDotTile<1, NV>(c + static_cast<size_t>(r) * ldc, ldc, w + static_cast<size_t>(r) * ldw, ldw,
                      m, ldm, (r + 2) / 2, 1.0f, valid);
  }
  for (int i0 = lead; i0 < T; i0 += R) {
    RowDotTile<R, NV>(c + static_cast<size_t>(i0) * ldc, ldc, w + static_cast<size_t>(i0) * ldw,
                      ldw, m, ldm, (i0 + R + 1) / 2, 1.0f, valid);
  }
}

// c[j][0, hs) = Σ_{i >= j} w[i][j] m[i][0, hs); w and m in row pairs (w's
// ldw columns, m's ldm), w zero past the diagonal.
template <int NV>
void ScatterColumns(float* c, int ldc, const Bf16* w, int ldw, const Bf16* m, int ldm, int T,
                    int valid) {
  constexpr int R = TileRows(NV);
  const int pairs = (T + 1) / 2, whole = T - T % R;
  for (int j = T - 1; j >= whole; j--) {  // the shortest sums first
    ScatterTile<1, NV>(c + static_cast<size_t>(j) * ldc, ldc, w + static_cast<size_t>(j) * 2, ldw,
                       m, ldm, j / 2, pairs, valid);
  }
  for (int j0 = whole - R; j0 >= 0; j0 -= R) {
    ScatterTile<R, NV>(c + static_cast<size_t>(j0) * ldc, ldc, w + static_cast<size_t>(j0) * 2, ldw,
                       m, ldm, j0 / 2, pairs, valid);
  }
}

enum class Sum { kGather, kScatter };

// Gather or Scatter over the head's columns, up to kDotVectors at a time.
void Causal(Sum sum, float* c, int ldc, const Bf16* w, int ldw, const Bf16* m, int ldm, int hs,
            int T) {
  for (int col = 0; col < hs; col += kDotVectors * kLanes) {
    const Bf16* mc = m + static_cast<size_t>(col) * 2;
    const int vectors = std::min(kDotVectors, (ldm - col) / kLanes), valid = hs - col;
    internal::WithVectors(vectors, [&](auto nv) {
      if (sum == Sum::kGather) {
        GatherColumns<decltype(nv)::value>(c + col, ldc, w, ldw, mc, ldm, T, valid);
      } else {
        ScatterColumns<decltype(nv)::value>(c + col, ldc, w, ldw, mc, ldm, T, valid);
      }
    });
  }
}

// Bf16 values of a thread's buffer (floats), each part starting on a cache
// line.
class Bf16Parts {
 public:
  explicit Bf16Parts(Bf16* base) : next_(base) {}
  Bf16* Take(size_t n) {
    Bf16* part = next_;
    next_ += RoundUp(static_cast<int>(n), 32);
    return part;
  }
  static size_t Floats(size_t n) {
    return static_cast<size_t>(RoundUp(static_cast<int>(n), 32)) / 2;
  }

 private:
  Bf16* next_;
};

// The sizes both passes pad a head to: hs and T rounded up to whole vectors
// (hsp, Tp) and to bf16 pairs (hs2, T2); scale is the scores' 1/√hs.
struct HeadDims {
  HeadDims(int T, int C, int NH)
      : hs(C / NH),
        C3(3 * C),
        Tp(RoundUp(T, kLanes)),
        hsp(RoundUp(hs, kLanes)),
        hs2(RoundUp(hs, 2)),
        T2(RoundUp(T, 2)),
        scale(1.0f / std::sqrt(static_cast<float>(hs))) {}
  int hs, C3, Tp, hsp, hs2, T2;
  float scale;
};

}  // namespace

size_t attention_bf16_probs_size(int B, int T, int NH) {
  return static_cast<size_t>(B) * NH * RoundUp(T, 2) * RoundUp(T, kLanes);
}

void attention_forward_bf16(float* out, Bf16* probs, const float* qkv, int B, int T, int C,
                            int NH) {
  assert(C % NH == 0);
  const auto [hs, C3, Tp, hsp, hs2, T2, scale] = HeadDims(T, C, NH);
  const size_t q_size = static_cast<size_t>(T) * hsp, kt_size = static_cast<size_t>(hs2) * Tp,
               v_size = static_cast<size_t>(T2) * hsp, p_size = static_cast<size_t>(T) * Tp;
  const size_t s_floats = static_cast<size_t>(T) * T;
  const size_t floats = s_floats + Bf16Parts::Floats(q_size) + Bf16Parts::Floats(kt_size) +
                        Bf16Parts::Floats(v_size) + Bf16Parts::Floats(p_size);
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const float* q = qkv + static_cast<size_t>(b) * T * C3 + h * hs;
    Bf16* p2 = probs + static_cast<size_t>(bh) * T2 * Tp;
    float* scores = internal::ThreadBuffer(floats);
    Bf16Parts parts(reinterpret_cast<Bf16*>(scores + s_floats));
    Bf16* qb = parts.Take(q_size);
    Bf16* kt = parts.Take(kt_size);
    Bf16* vp = parts.Take(v_size);
    Bf16* pb = parts.Take(p_size);
    PackRows(qb, hsp, q, C3, T, hs);
    PackTransposedPairs(kt, Tp, q + C, C3, T, hs);
    PackRowPairs(vp, hsp, q + 2 * C, C3, T, hs);
    RowDotCausal(scores, qb, hsp, kt, Tp, hs, T, scale);
    // Two rows at a time: their softmax, then p rounded into the rows this
    // product reads and the row pairs the backward's reads.
    for (int t = 0; t < T; t += 2) {
      float* row = scores + static_cast<size_t>(t) * T;
      const int second = t + 1 < T ? t + 2 : 0;  // columns of row t + 1, if any
      const float inv = ExpRow(row, t + 1), inv2 = second ? ExpRow(row + T, second) : 0.0f;
      const int width = CausalWidth(t + 1, Tp);
      PackRow(pb + static_cast<size_t>(t) * Tp, row, t + 1, CausalWidth(t, Tp), inv);
      if (second) PackRow(pb + static_cast<size_t>(t + 1) * Tp, row + T, second, width, inv2);
      PackPair(p2 + static_cast<size_t>(t) * Tp, row, t + 1, row + T, second, width, inv, inv2);
    }
    Causal(Sum::kGather, out + static_cast<size_t>(b) * T * C + h * hs, C, pb, Tp, vp, hsp, hs, T);
  }
}

void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out,
                             const Bf16* probs, int B, int T, int C, int NH) {
  assert(C % NH == 0);
  const auto [hs, C3, Tp, hsp, hs2, T2, scale] = HeadDims(T, C, NH);
  const size_t rows_size = static_cast<size_t>(T) * hsp, pairs_size = static_cast<size_t>(T2) * hsp,
               t_size = static_cast<size_t>(hs2) * Tp, square = static_cast<size_t>(T2) * Tp;
  const size_t dp_floats = static_cast<size_t>(T) * T;
  const size_t floats = dp_floats + Bf16Parts::Floats(rows_size) + Bf16Parts::Floats(t_size) +
                        3 * Bf16Parts::Floats(pairs_size) + 2 * Bf16Parts::Floats(square);
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const size_t qkv_off = static_cast<size_t>(b) * T * C3 + h * hs;
    const size_t out_off = static_cast<size_t>(b) * T * C + h * hs;
    const float* q = qkv + qkv_off;
    float* dq = dqkv + qkv_off;
    const Bf16* p2 = probs + static_cast<size_t>(bh) * T2 * Tp;
    float* dp = internal::ThreadBuffer(floats);
    Bf16Parts parts(reinterpret_cast<Bf16*>(dp + dp_floats));
    Bf16* doutb = parts.Take(rows_size);
    Bf16* vt = parts.Take(t_size);
    Bf16* dout2 = parts.Take(pairs_size);
    Bf16* q2 = parts.Take(pairs_size);
    Bf16* k2 = parts.Take(pairs_size);
    Bf16* dsb = parts.Take(square);
    Bf16* ds2 = parts.Take(square);
    PackRows(doutb, hsp, dout + out_off, C, T, hs);
    PackTransposedPairs(vt, Tp, q + 2 * C, C3, T, hs);
    PackRowPairs(dout2, hsp, dout + out_off, C, T, hs);
    PackRowPairs(q2, hsp, q, C3, T, hs);
    PackRowPairs(k2, hsp, q + C, C3, T, hs);
    // dp = dout · vᵀ; then, two rows at a time, ds = p * (dp - dout · out) *
    // scale, rounded into the rows and the row pairs its products read.
    RowDotCausal(dp, doutb, hsp, vt, Tp, hs, T, 1.0f);
    for (int t = 0; t < T; t += 2) {
      const int second = t + 1 < T ? t + 2 : 0;  // columns of row t + 1, if any
      const float* dp_t = dp + static_cast<size_t>(t) * T;
      const float* out_t = out + out_off + static_cast<size_t>(t) * C;
      const Bf16* dout_t = doutb + static_cast<size_t>(t) * hsp;
      const __m512 sum_a = _mm512_set1_ps(Dot(dout_t, out_t, hs));
      const __m512 sum_b = _mm512_set1_ps(second ? Dot(dout_t + hsp, out_t + C, hs) : 0.0f);
      const __m512 scale_v = _mm512_set1_ps(scale);
      const Bf16* pairs = p2 + static_cast<size_t>(t) * Tp;
      Bf16* ds_a = dsb + static_cast<size_t>(t) * Tp;
      Bf16* ds_b = ds_a + Tp;
      Bf16* ds_pairs = ds2 + static_cast<size_t>(t) * Tp;
      const int width = CausalWidth(t + 1, Tp);
      for (int c = 0; c < width; c += kLanes) {
        // The pair lanes hold row t's p in their low half, row t + 1's high.
        const __m512i p_ab = _mm512_loadu_si512(pairs + 2 * c);
        const __m512 p_a = _mm512_castsi512_ps(_mm512_slli_epi32(p_ab, 16));
        const __m512 p_b = _mm512_castsi512_ps(_mm512_and_si512(p_ab, high_half));
        const __m512 a = _mm512_mul_ps(
            _mm512_mul_ps(p_a, _mm512_sub_ps(LoadFirst(dp_t + c, t + 1 - c), sum_a)), scale_v);
        const __m512 b = _mm512_mul_ps(
            _mm512_mul_ps(p_b, _mm512_sub_ps(LoadFirst(dp_t + T + c, second - c), sum_b)), scale_v);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(ds_a + c), (__m256i)_mm512_cvtneps_pbh(a));
        if (second) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(ds_b + c), (__m256i)_mm512_cvtneps_pbh(b));
        }
        _mm512_storeu_si512(ds_pairs + 2 * c, InterleaveRounded(a, b));
      }
    }
    Causal(Sum::kScatter, dq + 2 * C, C3, p2, Tp, dout2, hsp, hs, T);  // dv = pᵀ · dout
    Causal(Sum::kGather, dq, C3, dsb, Tp, k2, hsp, hs, T);             // dq = ds · k
    Causal(Sum::kScatter, dq + C, C3, ds2, Tp, q2, hsp, hs, T);        // dk = dsᵀ · q
  }
}

}  // namespace ratchet::train

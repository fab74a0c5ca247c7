// Causal multi-head FP32 attention, q, k, v, out: [B][NH][T][HS], shaped by
// compile-time tunables that ratchet-kbench passes as -D values from
// tune.json:
//
//   EXP      0: std::exp per score; 1: an inline polynomial exp (Cody-Waite
//            reduction, degree 6, about 2 ulp) on whole vectors
//   VEC      floats per vector (4: SSE, 8: AVX2, 16: AVX-512)
//   BQ       queries computed together: each loaded key vector serves BQ
//            accumulators (register blocking; needs PACK_K)
//   PACK_K   1: transpose the head's keys once to [HS][T] so scores are
//            computed VEC keys at a time; 0: one dot product (with a
//            horizontal sum) per (query, key) pair
//   AV_REGS  1: the weighted sum of values keeps BQ x HS/VEC accumulators in
//            registers (when HS is 1 to 4 whole vectors); 0: accumulates in
//            memory, one query at a time
//
// For each head and query block: scores against every visible key, a stable
// softmax (max subtracted), then the weighted sum of values, divided by the
// sum at the end. Threads take whole heads; each head's arithmetic order is
// fixed, so results do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kbench_abi.h"

#ifndef EXP
#define EXP 0
#endif
#ifndef VEC
#define VEC 4
#endif
#ifndef BQ
#define BQ 1
#endif
#ifndef PACK_K
#define PACK_K 0
#endif
#ifndef AV_REGS
#define AV_REGS 0
#endif

static_assert(VEC >= 1 && BQ >= 1, "sizes must be positive");

namespace {

typedef float Vec __attribute__((vector_size(VEC * sizeof(float))));
typedef int IVec __attribute__((vector_size(VEC * sizeof(int))));

inline Vec Load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void Store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2) / 2; the same
// arithmetic for a vector or a float.
template <typename V, typename I>
inline V PolyExp(V x) {
  x = x < -87.0f ? V{} - 87.0f : x;
  x = x > 88.0f ? V{} + 88.0f : x;
  const V n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;
  V p = V{} + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  I bits;
  if constexpr (std::is_same_v<V, float>) {  // Not sizeof: VEC 1 is a one-lane vector.
    bits = (static_cast<int>(n) + 127) << 23;
  } else {
    bits = (__builtin_convertvector(n, I) + 127) << 23;
  }
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// In place: row[s] = exp(row[s] - max) for s < n; returns their sum.
float ExpRow(float* row, int n, float max) {
  float sum = 0.0f;
  int s = 0;
#if EXP
  Vec acc{};
  for (; s + VEC <= n; s += VEC) {
    const Vec e = PolyExp<Vec, IVec>(Load(row + s) - max);
    Store(row + s, e);
    acc += e;
  }
  for (int i = 0; i < VEC; ++i) sum += acc[i];
  for (; s < n; ++s) {
    row[s] = PolyExp<float, int>(row[s] - max);
    sum += row[s];
  }
#else
  for (; s < n; ++s) {
    row[s] = std::exp(row[s] - max);
    sum += row[s];
  }
#endif
  return sum;
}

// acc[0..HS) += w * v[0..HS).
inline void Axpy(float* acc, float w, const float* v, int HS) {
  int d = 0;
  for (; d + VEC <= HS; d += VEC) Store(acc + d, Load(acc + d) + w * Load(v + d));
  for (; d < HS; ++d) acc[d] += w * v[d];
}

inline float Dot(const float* a, const float* b, int HS) {
  Vec acc{};
  int d = 0;
  for (; d + VEC <= HS; d += VEC) acc += Load(a + d) * Load(b + d);
  float sum = 0.0f;
  for (int i = 0; i < VEC; ++i) sum += acc[i];
  for (; d < HS; ++d) sum += a[d] * b[d];
  return sum;
}

// Per-thread scratch, sized once per call.
struct Scratch {
  int Tp;                     // T rounded up to whole vectors.
  std::vector<float> kt;      // [HS][Tp] transposed keys (PACK_K), zero-padded.
  std::vector<float> scores;  // [BQ][Tp]
  std::vector<float> acc;     // [BQ][HS]
};

// Scores of queries t0..t0+nq-1 against keys 0..t, scaled, into scores rows.
void Scores(const float* q, const float* k, int T, int HS, int t0, int nq, float scale,
            Scratch& w) {
  (void)T;
#if PACK_K
  const int last = t0 + nq - 1;
  for (int s = 0; s <= last; s += VEC) {
    Vec a[BQ] = {};
    for (int d = 0; d < HS; ++d) {
      const Vec kv = Load(w.kt.data() + (long)d * w.Tp + s);
      for (int i = 0; i < BQ; ++i) {
        // Rows past the last query repeat it; their scores are not used.
        a[i] += q[(long)std::min(t0 + i, last) * HS + d] * kv;
      }
    }
    for (int i = 0; i < nq; ++i) Store(w.scores.data() + (long)i * w.Tp + s, a[i] * scale);
  }
#else
  for (int i = 0; i < nq; ++i) {
    const int t = t0 + i;
    float* row = w.scores.data() + (long)i * w.Tp;
    for (int s = 0; s <= t; ++s) row[s] = Dot(q + (long)t * HS, k + (long)s * HS, HS) * scale;
  }
#endif
}

// acc[i][:] = sum_{s < n} weight[i][s] * v[s][:] for the BQ queries of a
// block, with BQ x NV vector accumulators in registers: each value vector is
// loaded once and serves every query.
template <int NV>
void WeightedSum(Scratch& w, const float* v, int n, int HS) {
  Vec acc[BQ][NV] = {};
  for (int s = 0; s < n; ++s) {
    const float* v_s = v + (long)s * HS;
    Vec vv[NV];
    for (int j = 0; j < NV; ++j) vv[j] = Load(v_s + j * VEC);
    for (int i = 0; i < BQ; ++i) {
      const float weight = w.scores[(long)i * w.Tp + s];
      for (int j = 0; j < NV; ++j) acc[i][j] += weight * vv[j];
    }
  }
  for (int i = 0; i < BQ; ++i) {
    for (int j = 0; j < NV; ++j) Store(w.acc.data() + (long)i * HS + j * VEC, acc[i][j]);
  }
}

void Head(const float* q, const float* k, const float* v, float* out, int T, int HS, Scratch& w) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
#if PACK_K
  for (int s = 0; s < T; ++s) {
    for (int d = 0; d < HS; ++d) w.kt[(long)d * w.Tp + s] = k[(long)s * HS + d];
  }
#endif
  const int nv = HS % VEC == 0 ? HS / VEC : 0;  // Whole vectors per head row.
  for (int t0 = 0; t0 < T; t0 += BQ) {
    const int nq = std::min(BQ, T - t0);
    Scores(q, k, T, HS, t0, nq, scale, w);
    float sums[BQ];
    for (int i = 0; i < nq; ++i) {
      const int t = t0 + i;
      float* row = w.scores.data() + (long)i * w.Tp;
      float max = -INFINITY;
      for (int s = 0; s <= t; ++s) max = row[s] > max ? row[s] : max;
      sums[i] = ExpRow(row, t + 1, max);
      // Keys this query may not see weigh exactly 0 in the block's sweep.
      for (int s = t + 1; s < t0 + nq; ++s) row[s] = 0.0f;
    }
#if AV_REGS
    if (nq == BQ && nv >= 1 && nv <= 4) {
      switch (nv) {
        case 1:
          WeightedSum<1>(w, v, t0 + nq, HS);
          break;
        case 2:
          WeightedSum<2>(w, v, t0 + nq, HS);
          break;
        case 3:
          WeightedSum<3>(w, v, t0 + nq, HS);
          break;
        case 4:
          WeightedSum<4>(w, v, t0 + nq, HS);
          break;
      }
    } else
#endif
    {
      for (int i = 0; i < nq; ++i) {
        float* acc = w.acc.data() + (long)i * HS;
        const float* row = w.scores.data() + (long)i * w.Tp;
        std::fill(acc, acc + HS, 0.0f);
        for (int s = 0; s <= t0 + i; ++s) Axpy(acc, row[s], v + (long)s * HS, HS);
      }
    }
    for (int i = 0; i < nq; ++i) {
      float* out_t = out + (long)(t0 + i) * HS;
      const float* acc = w.acc.data() + (long)i * HS;
      for (int d = 0; d < HS; ++d) out_t[d] = acc[d] / sums[i];
    }
  }
}

}  // namespace

extern "C" void kernel_attention(const float* q, const float* k, const float* v, float* out, int B,
                                 int NH, int T, int HS, int threads) {
  const int heads = B * NH;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Scratch w;
    w.Tp = (T + VEC - 1) / VEC * VEC;
    w.kt.assign(PACK_K ? (size_t)HS * w.Tp : 0, 0.0f);
    w.scores.assign((size_t)BQ * w.Tp, 0.0f);
    w.acc.assign((size_t)BQ * HS, 0.0f);
#pragma omp for schedule(static)
    for (int h = 0; h < heads; ++h) {
      const long at = (long)h * T * HS;
      Head(q + at, k + at, v + at, out + at, T, HS, w);
    }
  }
}

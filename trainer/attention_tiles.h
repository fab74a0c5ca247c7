// Register-tiled products of causal attention, for one (batch, head) at a
// time on operands packed by ops_attention.cc. Three shapes cover the six
// products of the forward and backward:
//
//   RowDot   C[r][j] = scale · Σ_d A[r][d] · Bt[d][j]   s = q kᵀ, dp = dout vᵀ
//   Gather   C[r][:] = Σ_s W[r][s] · M[s][:]            out = p v, dq = ds k
//   Scatter  C[s][:] = Σ_r W[r][s] · M[r][:]            dv = pᵀ dout, dk = dsᵀ q
//
// Each tile keeps R × NV accumulators of kLanes floats in registers (24 of
// AVX-512's 32) and streams its operands once: RowDot vectorizes over the
// columns j of the packed transpose Bt (padded to whole vectors), Gather and
// Scatter over the head dimension of M (whole vectors: a head's slice of the
// qkv rows in place, or rows packed with padding). Each tile asks for the
// operand rows kTileAhead iterations ahead: M's rows are a head's slice of
// much longer rows, too far apart for the hardware's stride prefetcher
// (measured on wide4: attention 67 -> 60 ms per step with the rows read in
// place, 63 without the prefetch). Sums run in a fixed order, so results do
// not depend on threads.
#pragma once

#include <type_traits>
#include <utility>

#include "trainer/ops_math.h"

namespace ratchet::train::internal {

constexpr int kTileAhead = 4;

// Transposes the kLanes × kLanes block in r[0..kLanes) in registers: four
// butterfly stages, each swapping the off-diagonal sub-blocks of span S
// between row pairs (i, i + S), 64 two-source shuffles in all (a scalar
// strided copy of the same block costs 256 loads and stores).
template <int S, size_t... L>
inline Vec SwapLow(Vec a, Vec b, std::index_sequence<L...>) {
  return __builtin_shufflevector(a, b, ((L & S) ? kLanes + L - S : L)...);
}
template <int S, size_t... L>
inline Vec SwapHigh(Vec a, Vec b, std::index_sequence<L...>) {
  return __builtin_shufflevector(a, b, ((L & S) ? kLanes + L : L + S)...);
}
template <int S>
inline void TransposeStage(Vec* r) {
  for (int i = 0; i < kLanes; i++) {
    if (i & S) continue;
    const Vec a = r[i], b = r[i + S];
    r[i] = SwapLow<S>(a, b, std::make_index_sequence<kLanes>{});
    r[i + S] = SwapHigh<S>(a, b, std::make_index_sequence<kLanes>{});
  }
}
inline void TransposeBlock(Vec* r) {
  static_assert(kLanes == 16);
  TransposeStage<8>(r);
  TransposeStage<4>(r);
  TransposeStage<2>(r);
  TransposeStage<1>(r);
}

// Switches a runtime vector count 1..4 to the tile templates.
template <typename Body>
void WithVectors(int vectors, const Body& body) {
  switch (vectors) {
    case 1:
      body(std::integral_constant<int, 1>{});
      break;
    case 2:
      body(std::integral_constant<int, 2>{});
      break;
    case 3:
      body(std::integral_constant<int, 3>{});
      break;
    default:
      body(std::integral_constant<int, 4>{});
      break;
  }
}

// Stores `v` to c[0 .. min(kLanes, valid)), valid > 0.
inline void StoreTileVector(float* c, Vec v, int valid) {
  if (valid >= kLanes) {
    StoreV(c, v);
  } else {
    StoreN(c, v, valid);
  }
}

// C[r][v·kLanes ..] for r < R, v < NV over k terms; `valid` columns of C
// (from its first) are written.
template <int R, int NV>
inline void RowDotTile(float* c, int ldc, const float* a, int lda, const float* bt, int ldb, int k,
                       float scale, int valid) {
  Vec acc[R][NV] = {};
  for (int d = 0; d < k; d++) {
    Vec b[NV];
    for (int v = 0; v < NV; v++) {
      __builtin_prefetch(bt + static_cast<size_t>(d + kTileAhead) * ldb + v * kLanes);
      b[v] = LoadV(bt + static_cast<size_t>(d) * ldb + v * kLanes);
    }
    for (int r = 0; r < R; r++) {
      const Vec s = Splat(a[static_cast<size_t>(r) * lda + d]);
      for (int v = 0; v < NV; v++) acc[r][v] += s * b[v];
    }
  }
  for (int r = 0; r < R; r++) {
    for (int v = 0; v < NV && v * kLanes < valid; v++) {
      StoreTileVector(c + static_cast<size_t>(r) * ldc + v * kLanes, acc[r][v] * scale,
                      valid - v * kLanes);
    }
  }
}

// C[r][v·kLanes ..] = Σ_{s < n} W[r][s] M[s][v·kLanes ..] for r < R, v < NV.
template <int R, int NV>
inline void GatherTile(float* c, int ldc, const float* w, int ldw, const float* m, int ldm, int n,
                       int valid) {
  Vec acc[R][NV] = {};
  for (int s = 0; s < n; s++) {
    Vec b[NV];
    for (int v = 0; v < NV; v++) {
      __builtin_prefetch(m + static_cast<size_t>(s + kTileAhead) * ldm + v * kLanes);
      b[v] = LoadV(m + static_cast<size_t>(s) * ldm + v * kLanes);
    }
    for (int r = 0; r < R; r++) {
      const Vec x = Splat(w[static_cast<size_t>(r) * ldw + s]);
      for (int v = 0; v < NV; v++) acc[r][v] += x * b[v];
    }
  }
  for (int r = 0; r < R; r++) {
    for (int v = 0; v < NV && v * kLanes < valid; v++) {
      StoreTileVector(c + static_cast<size_t>(r) * ldc + v * kLanes, acc[r][v], valid - v * kLanes);
    }
  }
}

// C[s][v·kLanes ..] = Σ_{r0 <= r < r1} W[r][s] M[r][v·kLanes ..] for s < R, v < NV.
template <int R, int NV>
inline void ScatterTile(float* c, int ldc, const float* w, int ldw, const float* m, int ldm, int r0,
                        int r1, int valid) {
  Vec acc[R][NV] = {};
  for (int r = r0; r < r1; r++) {
    Vec b[NV];
    for (int v = 0; v < NV; v++) {
      __builtin_prefetch(m + static_cast<size_t>(r + kTileAhead) * ldm + v * kLanes);
      b[v] = LoadV(m + static_cast<size_t>(r) * ldm + v * kLanes);
    }
    __builtin_prefetch(w + static_cast<size_t>(r + kTileAhead) * ldw);
    const float* w_row = w + static_cast<size_t>(r) * ldw;
    for (int s = 0; s < R; s++) {
      const Vec x = Splat(w_row[s]);
      for (int v = 0; v < NV; v++) acc[s][v] += x * b[v];
    }
  }
  for (int s = 0; s < R; s++) {
    for (int v = 0; v < NV && v * kLanes < valid; v++) {
      StoreTileVector(c + static_cast<size_t>(s) * ldc + v * kLanes, acc[s][v], valid - v * kLanes);
    }
  }
}

}  // namespace ratchet::train::internal

// LayerNorm, RMSNorm and the per-head qk_norm. Rows are independent, so the
// row loops run in parallel, asking for the rows kRowsAhead ahead themselves.
// The gain/bias gradients sum over rows: the row loop of the backward sums
// them over fixed chunks of rows while x and dy are in cache, and a second
// loop adds the chunks' sums in order (fixed summation order for any thread
// count). Measured on a wide4 step: a second walk over all rows for them
// cost as much as the row loop itself.
#include <algorithm>
#include <cassert>
#include <cmath>

#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

namespace {

constexpr int kChannelBlock = 16;  // one 64-byte line of floats
constexpr int kRowChunk = 64;      // rows per partial sum of the gain/bias gradients
constexpr int kRowsAhead = 2;

// dst[c] += Σ_k partial[k·stride + c] over chunks k in order, for c < C.
void AddChunkSums(float* dst, const float* partial, int chunks, size_t stride, int C) {
  const int nblocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; blk++) {
    const int c0 = blk * kChannelBlock, c1 = std::min(C, c0 + kChannelBlock);
    float sum[kChannelBlock] = {};
    for (int k = 0; k < chunks; k++) {
      const float* row = partial + static_cast<size_t>(k) * stride;
#pragma omp simd
      for (int c = c0; c < c1; c++) sum[c - c0] += row[c];
    }
    for (int c = c0; c < c1; c++) dst[c] += sum[c - c0];
  }
}

}  // namespace

namespace {

// The row loops of the forward norms write row n's output to out_row(n) and
// hand it to done(n, row): the fp32 forms write it in place, the bf16 forms
// into a thread's row buffer and round it from there while it is in cache.
// Both run the same arithmetic, so the bf16 output is bitwise to_bf16 of
// the fp32 one.
template <class OutRow, class Done>
void LayerNormRows(const OutRow& out_row, const Done& done, float* mean, float* rstd,
                   const float* inp, const float* g, const float* b, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float* x = inp + static_cast<size_t>(n) * C;
    float* y = out_row(n);
    internal::PrefetchRow(x + kRowsAhead * C, C);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++) sum += x[c];
    const float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
    const float r = 1.0f / std::sqrt(var / C + kNormEps);
#pragma omp simd
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * g[c] + b[c];
    mean[n] = m;
    rstd[n] = r;
    done(n, y);
  }
}

template <class OutRow, class Done>
void RmsNormRows(const OutRow& out_row, const Done& done, float* rstd, const float* inp,
                 const float* g, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float* x = inp + static_cast<size_t>(n) * C;
    float* y = out_row(n);
    internal::PrefetchRow(x + kRowsAhead * C, C);
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    const float r = 1.0f / std::sqrt(ss / C + eps);
    if (g) {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = x[c] * r * g[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = x[c] * r;
    }
    rstd[n] = r;
    done(n, y);
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* g,
                       const float* b, int N, int C) {
  // out [N,C], mean [N], rstd [N], inp [N,C], g [C], b [C]
  LayerNormRows([&](int n) { return out + static_cast<size_t>(n) * C; }, [](int, const float*) {},
                mean, rstd, inp, g, b, N, C);
}

void layernorm_forward_bf16(uint16_t* out16, float* mean, float* rstd, const float* inp,
                            const float* g, const float* b, int N, int C) {
  LayerNormRows([&](int) { return internal::ThreadBuffer(C); },
                [&](int n, const float* y) { to_bf16_row(out16 + static_cast<size_t>(n) * C, y, C); },
                mean, rstd, inp, g, b, N, C);
}

void layernorm_backward(float* dinp, float* dg, float* db, const float* dout, const float* inp,
                        const float* g, const float* mean, const float* rstd, int N, int C) {
  // dinp [N,C], dg [C], db [C], dout [N,C], inp [N,C], g [C], mean/rstd [N]
  const int chunks = (N + kRowChunk - 1) / kRowChunk;
  float* partial = internal::ThreadBuffer(static_cast<size_t>(chunks) * 2 * C);  // [chunk][dg | db]
#pragma omp parallel for schedule(static)
  for (int k = 0; k < chunks; k++) {
    float* sg = partial + static_cast<size_t>(k) * 2 * C;
    float* sb = sg + C;
    std::fill(sg, sg + 2 * C, 0.0f);
    for (int n = k * kRowChunk; n < std::min(N, (k + 1) * kRowChunk); n++) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* dy = dout + static_cast<size_t>(n) * C;
      float* dx = dinp + static_cast<size_t>(n) * C;
      internal::PrefetchRow(x + kRowsAhead * C, C);
      internal::PrefetchRow(dy + kRowsAhead * C, C);
      const float m = mean[n], r = rstd[n];
      float sum_dn = 0.0f, sum_dn_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_dn, sum_dn_xhat)
      for (int c = 0; c < C; c++) {
        const float dn = dy[c] * g[c];
        sum_dn += dn;
        sum_dn_xhat += dn * (x[c] - m) * r;
      }
      const float mean_dn = sum_dn / C, mean_dn_xhat = sum_dn_xhat / C;
#pragma omp simd
      for (int c = 0; c < C; c++) {
        const float xhat = (x[c] - m) * r;
        dx[c] += r * (dy[c] * g[c] - mean_dn - xhat * mean_dn_xhat);
        sg[c] += dy[c] * xhat;
        sb[c] += dy[c];
      }
    }
  }
  AddChunkSums(dg, partial, chunks, 2 * static_cast<size_t>(C), C);
  AddChunkSums(db, partial + C, chunks, 2 * static_cast<size_t>(C), C);
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* g, int N, int C,
                     float eps) {
  // out [N,C], rstd [N], inp [N,C], g [C] or null
  RmsNormRows([&](int n) { return out + static_cast<size_t>(n) * C; }, [](int, const float*) {},
              rstd, inp, g, N, C, eps);
}

void rmsnorm_forward_bf16(uint16_t* out16, float* rstd, const float* inp, const float* g, int N,
                          int C, float eps) {
  RmsNormRows([&](int) { return internal::ThreadBuffer(C); },
              [&](int n, const float* y) { to_bf16_row(out16 + static_cast<size_t>(n) * C, y, C); },
              rstd, inp, g, N, C, eps);
}

void rmsnorm_backward(float* dinp, float* dg, const float* dout, const float* inp, const float* g,
                      const float* rstd, int N, int C) {
  // dinp [N,C], dg [C] (if g), dout [N,C], inp [N,C], g [C] or null, rstd [N]
  const bool gain = g != nullptr && dg != nullptr;
  const int chunks = (N + kRowChunk - 1) / kRowChunk;
  float* partial =
      gain ? internal::ThreadBuffer(static_cast<size_t>(chunks) * C) : nullptr;  // [chunk][dg]
#pragma omp parallel for schedule(static)
  for (int k = 0; k < chunks; k++) {
    float* sg = gain ? partial + static_cast<size_t>(k) * C : nullptr;
    if (gain) std::fill(sg, sg + C, 0.0f);
    for (int n = k * kRowChunk; n < std::min(N, (k + 1) * kRowChunk); n++) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* dy = dout + static_cast<size_t>(n) * C;
      float* dx = dinp + static_cast<size_t>(n) * C;
      internal::PrefetchRow(x + kRowsAhead * C, C);
      internal::PrefetchRow(dy + kRowsAhead * C, C);
      const float r = rstd[n];
      float s = 0.0f;  // sum of (dy * g) * x
      if (g) {
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += dy[c] * g[c] * x[c];
        const float kx = r * r * r * s / C;
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += r * dy[c] * g[c] - x[c] * kx;
        if (gain) {
#pragma omp simd
          for (int c = 0; c < C; c++) sg[c] += dy[c] * x[c] * r;
        }
      } else {
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += dy[c] * x[c];
        const float kx = r * r * r * s / C;
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += r * dy[c] - x[c] * kx;
      }
    }
  }
  if (gain) AddChunkSums(dg, partial, chunks, static_cast<size_t>(C), C);
}

void qknorm_forward(float* out, float* rstd, const float* inp, int B, int T, int C, int NH) {
  // out [B,T,3C], rstd [B,T,2,NH], inp [B,T,3C]; hs = C/NH
  assert(C % NH == 0 && out != inp);
  const int hs = C / NH;
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; bt++) {
    const float* x = inp + static_cast<size_t>(bt) * 3 * C;
    float* y = out + static_cast<size_t>(bt) * 3 * C;
    for (int ph = 0; ph < 2 * NH; ph++) {  // part-major: q heads, then k heads
      const float* x_h = x + ph * hs;
      float* y_h = y + ph * hs;
      float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
      for (int i = 0; i < hs; i++) ss += x_h[i] * x_h[i];
      const float r = 1.0f / std::sqrt(ss / hs + kQkNormEps);
#pragma omp simd
      for (int i = 0; i < hs; i++) y_h[i] = x_h[i] * r;
      rstd[static_cast<size_t>(bt) * 2 * NH + ph] = r;
    }
    std::copy(x + 2 * C, x + 3 * C, y + 2 * C);
  }
}

void qknorm_backward(float* dinp, const float* dout, const float* inp, const float* rstd, int B,
                     int T, int C, int NH) {
  // dinp [B,T,3C], dout [B,T,3C], inp [B,T,3C], rstd [B,T,2,NH]
  assert(C % NH == 0);
  const int hs = C / NH;
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; bt++) {
    const float* x = inp + static_cast<size_t>(bt) * 3 * C;
    const float* dy = dout + static_cast<size_t>(bt) * 3 * C;
    float* dx = dinp + static_cast<size_t>(bt) * 3 * C;
    for (int ph = 0; ph < 2 * NH; ph++) {
      const float* x_h = x + ph * hs;
      const float* dy_h = dy + ph * hs;
      float* dx_h = dx + ph * hs;
      const float r = rstd[static_cast<size_t>(bt) * 2 * NH + ph];
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int i = 0; i < hs; i++) s += dy_h[i] * x_h[i];
      const float k = r * r * r * s / hs;
#pragma omp simd
      for (int i = 0; i < hs; i++) dx_h[i] += r * dy_h[i] - x_h[i] * k;
    }
#pragma omp simd
    for (int i = 2 * C; i < 3 * C; i++) dx[i] += dy[i];
  }
}

}  // namespace ratchet::train

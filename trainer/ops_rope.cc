// Rotary position embedding applied to q and k inside the packed qkv buffer.
#include <algorithm>
#include <cassert>
#include <cmath>

#include "trainer/ops.h"

namespace ratchet::train {

void rope_tables(float* cos_table, float* sin_table, int T, int hs, float rope_base) {
  // cos_table [T, hs/2], sin_table [T, hs/2]
  // Computed in double once at start-up: exact enough that fast and naive
  // twins can share the tables.
  assert(hs % 2 == 0);
  const int half = hs / 2;
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < half; i++) {
      const double angle = t * std::pow(double(rope_base), -2.0 * i / hs);
      cos_table[t * half + i] = static_cast<float>(std::cos(angle));
      sin_table[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }
}

void rope_forward(float* out, const float* inp, const float* cos_table, const float* sin_table,
                  int B, int T, int C, int NH) {
  // out [B,T,3C], inp [B,T,3C], cos_table/sin_table [T, hs/2]
  assert(C % NH == 0 && (C / NH) % 2 == 0);
  const int hs = C / NH, half = hs / 2;
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; bt++) {
    const int t = bt % T;
    const float* x = inp + static_cast<size_t>(bt) * 3 * C;
    float* y = out + static_cast<size_t>(bt) * 3 * C;
    const float* cos_t = cos_table + static_cast<size_t>(t) * half;
    const float* sin_t = sin_table + static_cast<size_t>(t) * half;
    for (int ph = 0; ph < 2 * NH; ph++) {  // q heads, then k heads
      const float* a = x + ph * hs;
      const float* b = a + half;
      float* ya = y + ph * hs;
      float* yb = ya + half;
#pragma omp simd
      for (int i = 0; i < half; i++) {
        const float av = a[i], bv = b[i];  // read both first: out may alias inp
        ya[i] = av * cos_t[i] - bv * sin_t[i];
        yb[i] = av * sin_t[i] + bv * cos_t[i];
      }
    }
    if (y != x) std::copy(x + 2 * C, x + 3 * C, y + 2 * C);
  }
}

void rope_backward(float* dinp, const float* dout, const float* cos_table, const float* sin_table,
                   int B, int T, int C, int NH) {
  // dinp [B,T,3C], dout [B,T,3C], cos_table/sin_table [T, hs/2]
  assert(C % NH == 0 && (C / NH) % 2 == 0 && dinp != dout);
  const int hs = C / NH, half = hs / 2;
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; bt++) {
    const int t = bt % T;
    const float* dy = dout + static_cast<size_t>(bt) * 3 * C;
    float* dx = dinp + static_cast<size_t>(bt) * 3 * C;
    const float* cos_t = cos_table + static_cast<size_t>(t) * half;
    const float* sin_t = sin_table + static_cast<size_t>(t) * half;
    for (int ph = 0; ph < 2 * NH; ph++) {
      const float* da = dy + ph * hs;
      const float* db = da + half;
      float* dxa = dx + ph * hs;
      float* dxb = dxa + half;
#pragma omp simd
      for (int i = 0; i < half; i++) {
        dxa[i] += da[i] * cos_t[i] + db[i] * sin_t[i];
        dxb[i] += db[i] * cos_t[i] - da[i] * sin_t[i];
      }
    }
#pragma omp simd
    for (int i = 2 * C; i < 3 * C; i++) dx[i] += dy[i];
  }
}

}  // namespace ratchet::train

// Token (+ learned position) embedding.
#include <algorithm>

#include "trainer/ops.h"

namespace ratchet::train {

void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                     int T, int C) {
  // out [B,T,C], tokens [B,T], wte [V,C], wpe [>=T,C] or null
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; bt++) {
    float* out_bt = out + static_cast<size_t>(bt) * C;
    const float* wte_tok = wte + static_cast<size_t>(tokens[bt]) * C;
    if (wpe) {
      const float* wpe_t = wpe + static_cast<size_t>(bt % T) * C;
#pragma omp simd
      for (int c = 0; c < C; c++) out_bt[c] = wte_tok[c] + wpe_t[c];
    } else {
      std::copy(wte_tok, wte_tok + C, out_bt);
    }
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                      int T, int C) {
  // dwte [V,C], dwpe [>=T,C] or null, dout [B,T,C], tokens [B,T]
  // Several positions share a token, so threads own disjoint channel blocks
  // and walk every position in order: no races, and each sum runs in the
  // same order whatever the thread count.
  constexpr int kBlock = 16;  // one 64-byte line of floats
  const int nblocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; blk++) {
    const int c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    for (int bt = 0; bt < B * T; bt++) {
      const float* dout_bt = dout + static_cast<size_t>(bt) * C;
      float* dwte_tok = dwte + static_cast<size_t>(tokens[bt]) * C;
#pragma omp simd
      for (int c = c0; c < c1; c++) dwte_tok[c] += dout_bt[c];
    }
  }
  if (dwpe) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
      float* dwpe_t = dwpe + static_cast<size_t>(t) * C;
      for (int b = 0; b < B; b++) {
        const float* dout_bt = dout + (static_cast<size_t>(b) * T + t) * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dwpe_t[c] += dout_bt[c];
      }
    }
  }
}

}  // namespace ratchet::train

// A straightforward RoPE on interleaved pairs; angles computed in double so
// long positions stay accurate.
#include <cmath>

#include "kbench_abi.h"

extern "C" void kernel_rope(const float* x, float* y, int B, int T, int NH, int HS, float base,
                            int threads) {
  (void)threads;
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < NH; ++h) {
        const long at = (((long)b * T + t) * NH + h) * HS;
        for (int i = 0; i < HS / 2; ++i) {
          const double angle = t * std::pow((double)base, -2.0 * i / HS);
          const float c = (float)std::cos(angle), s = (float)std::sin(angle);
          const float x0 = x[at + 2 * i], x1 = x[at + 2 * i + 1];
          y[at + 2 * i] = x0 * c - x1 * s;
          y[at + 2 * i + 1] = x0 * s + x1 * c;
        }
      }
    }
  }
}

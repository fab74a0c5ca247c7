// A straightforward rmsnorm, one row at a time.
#include <cmath>

#include "kbench_abi.h"

extern "C" void kernel_rmsnorm(const float* x, const float* weight, float* y, int rows, int cols,
                               float eps, int threads) {
  (void)threads;
  for (int r = 0; r < rows; ++r) {
    const float* x_r = x + (long)r * cols;
    float ss = 0.0f;
    for (int c = 0; c < cols; ++c) ss += x_r[c] * x_r[c];
    const float inv = 1.0f / std::sqrt(ss / cols + eps);
    for (int c = 0; c < cols; ++c) y[(long)r * cols + c] = x_r[c] * inv * weight[c];
  }
}

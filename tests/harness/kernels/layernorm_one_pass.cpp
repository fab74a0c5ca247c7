// One-pass variance E[x^2] - E[x]^2 in float: fine near zero mean, wrong by
// cancellation on rows far from zero (the adversarial "offset" check).
#include <cmath>

#include "kbench_abi.h"

extern "C" void kernel_layernorm(const float* x, const float* weight, const float* bias, float* y,
                                 int rows, int cols, float eps, int threads) {
  (void)threads;
  for (int r = 0; r < rows; ++r) {
    const float* x_r = x + (long)r * cols;
    float sum = 0.0f, sum_sq = 0.0f;
    for (int c = 0; c < cols; ++c) {
      sum += x_r[c];
      sum_sq += x_r[c] * x_r[c];
    }
    const float mean = sum / cols;
    float var = sum_sq / cols - mean * mean;
    if (var < 0) var = 0;
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int c = 0; c < cols; ++c) {
      y[(long)r * cols + c] = (x_r[c] - mean) * inv * weight[c] + bias[c];
    }
  }
}

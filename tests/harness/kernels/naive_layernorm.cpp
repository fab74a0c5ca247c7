// A straightforward two-pass layernorm (mean, then variance about the mean).
#include <cmath>

#include "kbench_abi.h"

extern "C" void kernel_layernorm(const float* x, const float* weight, const float* bias, float* y,
                                 int rows, int cols, float eps, int threads) {
  (void)threads;
  for (int r = 0; r < rows; ++r) {
    const float* x_r = x + (long)r * cols;
    float mean = 0.0f;
    for (int c = 0; c < cols; ++c) mean += x_r[c];
    mean /= cols;
    float var = 0.0f;
    for (int c = 0; c < cols; ++c) var += (x_r[c] - mean) * (x_r[c] - mean);
    var /= cols;
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int c = 0; c < cols; ++c) {
      y[(long)r * cols + c] = (x_r[c] - mean) * inv * weight[c] + bias[c];
    }
  }
}

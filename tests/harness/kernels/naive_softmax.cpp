// A straightforward softmax: max, exp and sum, divide; one row at a time.
#include <cmath>

#include "kbench_abi.h"

extern "C" void kernel_softmax(const float* x, float* y, int rows, int cols, int threads) {
  (void)threads;
  for (int r = 0; r < rows; ++r) {
    const float* x_r = x + (long)r * cols;
    float* y_r = y + (long)r * cols;
    float max = x_r[0];
    for (int c = 1; c < cols; ++c) max = x_r[c] > max ? x_r[c] : max;
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) {
      y_r[c] = std::exp(x_r[c] - max);
      sum += y_r[c];
    }
    for (int c = 0; c < cols; ++c) y_r[c] /= sum;
  }
}

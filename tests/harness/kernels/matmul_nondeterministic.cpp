// Accurate but not deterministic: every other call moves one element by one
// ulp, well inside the tolerance, so only the repeated-call check can see it.
#include <cmath>

#include "kbench_abi.h"

static int calls = 0;

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  (void)threads;
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) C[i * N + j] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float a = A[i * K + k];
      for (int j = 0; j < N; ++j) C[i * N + j] += a * B[k * N + j];
    }
  }
  if (calls++ % 2 == 1) C[0] = std::nextafter(C[0], INFINITY);
}

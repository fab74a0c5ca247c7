// Correct except one NaN in the middle of every output with more than 64 elements.
#include <cmath>

#include "kbench_abi.h"

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
  if (M * N > 64) C[M * N / 2] = NAN;
}

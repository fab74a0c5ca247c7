// Correct on every checked shape, then aborts on the big timed ones.
#include <cstdlib>

#include "kbench_abi.h"

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  (void)threads;
  if (M >= 4096) std::abort();
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) C[i * N + j] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float a = A[i * K + k];
      for (int j = 0; j < N; ++j) C[i * N + j] += a * B[k * N + j];
    }
  }
}

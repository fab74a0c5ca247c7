// Wrong on one odd shape only: its column-tail code drops the last column
// when N % 16 == 5 and N > 64 (of the sweep, only M=97,N=101,K=103).
#include "kbench_abi.h"

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  (void)threads;
  const int n_done = (N % 16 == 5 && N > 64) ? N - 1 : N;
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) C[i * N + j] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float a = A[i * K + k];
      for (int j = 0; j < n_done; ++j) C[i * N + j] += a * B[k * N + j];
    }
  }
}

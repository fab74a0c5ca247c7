// Does not compile: line 7 uses a name that was never declared.
#include "kbench_abi.h"

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  (void)threads;
  C[0] = A[0] * B[0] * M * N * K * undeclared_scale;
}

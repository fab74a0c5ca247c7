/* The C ABI between ratchet-kbench and a candidate kernel.
 *
 * A candidate is one C++ file compiled by the bench (never by itself) into a
 * shared object; it defines the entry point of its type with C linkage:
 *
 *   #include "kbench_abi.h"
 *   extern "C" void kernel_matmul(const float* A, ...) { ... }
 *
 * The bench writes this header into the compile folder and passes -I for it,
 * so the candidate sees the exact declarations the bench calls. Every array is
 * dense, row-major FP32 and starts 64-byte aligned; inputs must not be
 * written, nor anything outside the output; `threads` is how many
 * threads the kernel may use (>= 1; the code is compiled with -fopenmp).
 * Outputs must not depend on anything but the inputs (bitwise: two calls with
 * the same inputs give the same bytes).
 */
#ifndef RATCHET_KBENCH_ABI_H_
#define RATCHET_KBENCH_ABI_H_

#ifdef __cplusplus
extern "C" {
#endif

/* C[M][N] = A[M][K] * B[K][N]. */
void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K, int threads);

/* y[r][:] = softmax(x[r][:]) for each of `rows` rows of `cols` values. */
void kernel_softmax(const float* x, float* y, int rows, int cols, int threads);

/* y[r][c] = x[r][c] / sqrt(mean_c(x[r][c]^2) + eps) * weight[c]. */
void kernel_rmsnorm(const float* x, const float* weight, float* y, int rows, int cols, float eps,
                    int threads);

/* y[r][c] = (x[r][c] - mean_r) / sqrt(var_r + eps) * weight[c] + bias[c], with the
 * biased variance (divided by cols). */
void kernel_layernorm(const float* x, const float* weight, const float* bias, float* y, int rows,
                      int cols, float eps, int threads);

/* Causal multi-head attention. q, k, v and out are separate [B][NH][T][HS]
 * arrays; for every (b, h, t):
 *   out[b][h][t][:] = sum_{s<=t} w_s * v[b][h][s][:],
 *   w = softmax_s(q[b][h][t][:] . k[b][h][s][:] / sqrt(HS)) over s <= t. */
void kernel_attention(const float* q, const float* k, const float* v, float* out, int B, int NH,
                      int T, int HS, int threads);

/* Rotary position embedding of x[B][T][NH][HS] (HS even), interleaved pairs:
 * with angle a = t * base^(-2i/HS) for pair i of a head at position t,
 *   y[.., 2i]   = x[.., 2i] * cos(a) - x[.., 2i+1] * sin(a)
 *   y[.., 2i+1] = x[.., 2i] * sin(a) + x[.., 2i+1] * cos(a). */
void kernel_rope(const float* x, float* y, int B, int T, int NH, int HS, float base, int threads);

#ifdef __cplusplus
}
#endif

#endif /* RATCHET_KBENCH_ABI_H_ */

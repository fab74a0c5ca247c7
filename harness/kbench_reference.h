// Double-precision references of the kernel types (see kbench_abi.h for the
// exact definitions), one output "row" at a time, so the bench can check a
// whole small problem or spot-check sampled rows of a large one.
//
// Each function writes the reference values to `ref` and, per element, the
// `scale` a float kernel's error is measured against: an error bound that
// grows with what the computation sums (sum |a*b| for a dot product, the
// largest |v| an attention output mixes, ...), so one relative tolerance per
// type fits every shape and every input magnitude.
#pragma once

#include <cstdint>

namespace ratchet::kbench {

// Row i of C = A*B: ref and scale have N elements.
void ReferenceMatmulRow(const float* A, const float* B, int N, int K, int i, double* ref,
                        double* scale);

// softmax of one row of `cols` values.
void ReferenceSoftmaxRow(const float* x, int cols, double* ref, double* scale);

// rmsnorm / layernorm of one row of `cols` values.
void ReferenceRmsnormRow(const float* x, const float* weight, int cols, double eps, double* ref,
                         double* scale);
void ReferenceLayernormRow(const float* x, const float* weight, const float* bias, int cols,
                           double eps, double* ref, double* scale);

// Causal attention output at position t of one (b, h) head: q, k, v point at
// that head's [T][HS] arrays; ref and scale have HS elements.
void ReferenceAttentionRow(const float* q, const float* k, const float* v, int HS, int t,
                           double* ref, double* scale);

// RoPE of one head vector x[HS] at position t.
void ReferenceRopeRow(const float* x, int HS, int t, double base, double* ref, double* scale);

}  // namespace ratchet::kbench

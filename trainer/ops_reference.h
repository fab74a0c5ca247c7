// Naive twins of every kernel in ops.h: the same signatures and contracts,
// written as plain loops with double accumulation, single-threaded, no BLAS.
// They are the ground truth for ops tests and for the evaluator's
// --cross-check forward. Slow by design; use them only on small sizes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/ops.h"

namespace ratchet::train::ref {

void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                     int T, int C);

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                      int T, int C);

void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M);

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M);

void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M);

void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M);

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* g,
                       const float* b, int N, int C);

void layernorm_backward(float* dinp, float* dg, float* db, const float* dout, const float* inp,
                        const float* g, const float* mean, const float* rstd, int N, int C);

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* g, int N, int C,
                     float eps = ::ratchet::train::kNormEps);

void rmsnorm_backward(float* dinp, float* dg, const float* dout, const float* inp, const float* g,
                      const float* rstd, int N, int C);

void gelu_forward(float* out, const float* inp, size_t n);

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n);

void relu2_forward(float* out, const float* inp, size_t n);

void relu2_backward(float* dinp, const float* dout, const float* inp, size_t n);

void swiglu_forward(float* out, const float* inp, int N, int H);

void swiglu_backward(float* dinp, const float* dout, const float* inp, int N, int H);

void qknorm_forward(float* out, float* rstd, const float* inp, int B, int T, int C, int NH);

void qknorm_backward(float* dinp, const float* dout, const float* inp, const float* rstd, int B,
                     int T, int C, int NH);

void rope_tables(float* cos_table, float* sin_table, int T, int hs, float rope_base);

void rope_forward(float* out, const float* inp, const float* cos_table, const float* sin_table,
                  int B, int T, int C, int NH);

void rope_backward(float* dinp, const float* dout, const float* cos_table, const float* sin_table,
                   int B, int T, int C, int NH);

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH);

void softcap_forward(float* out, const float* inp, float cap, size_t n);

void softcap_backward(float* dinp, const float* dout, const float* out, float cap, size_t n);

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                   const int32_t* targets, float dloss_scale, int N, int V);

void crossentropy_nll(float* nll, const float* logits, const int32_t* targets, int N, int V);

size_t newton_schulz_scratch_floats(int rows, int cols);

void newton_schulz(float* out, const float* g, float* scratch, int rows, int cols, int steps = 5);

}  // namespace ratchet::train::ref

// Compute kernels of the byte-level GPT trainer (see /work/brief/MODEL.md):
// every layer's forward and backward as free functions, llm.c style.
//
// Functions (namespace ratchet::train):
//   encoder_forward / encoder_backward            x = wte[tok] (+ wpe[t])
//   matmul_forward / matmul_backward              out = inp · w,  w [K,M]
//   matmul_forward_add                            out += inp · w
//   matmul_wt_forward / matmul_wt_backward        out = inp · wᵀ, w [M,K] (tied head)
//   layernorm_forward / layernorm_backward        eps 1e-5, saves mean, rstd
//   rmsnorm_forward / rmsnorm_backward            g nullable, eps given, saves rstd
//   gelu_forward / gelu_backward                  tanh approximation
//   relu2_forward / relu2_backward                relu(x)^2
//   swiglu_forward / swiglu_backward              [N,2H] -> [N,H], silu(gate) * up
//   qknorm_forward / qknorm_backward              per-head rmsnorm of q,k in packed qkv
//   rope_tables, rope_forward / rope_backward     rotary positions on q,k in packed qkv
//   attention_forward / attention_backward        causal multi-head attention
//   softcap_forward / softcap_backward            cap * tanh(x / cap)
//   crossentropy_forward_backward                 fused softmax + CE (+ dlogits)
//   crossentropy_nll                              per-position NLL only (inference)
//   newton_schulz_scratch_floats, newton_schulz   Muon orthogonalization (5 steps)
// Naive twins with the same signatures live in ops_reference.h (namespace
// ratchet::train::ref): plain loops, double accumulation.
//
// Conventions:
// - Arguments are ordered outputs, inputs, weights, sizes. Size letters: N rows
//   (usually B*T), B batch, T time, C channels, NH heads, hs = C/NH, V vocab.
// - Forward functions overwrite their outputs. Backward functions ADD into
//   their gradient outputs (the caller zeroes them first), except those whose
//   gradient output is always a fresh buffer in the model, which WRITE it:
//   crossentropy_forward_backward (dlogits), the activations' backward,
//   attention_backward (dqkv) and the matmuls' input gradients (dinp).
//   Zeroing those first cost a pass over N x 4C floats per layer.
// - No allocation inside a training step: callers pass the large scratch
//   buffers; attention and the norms' backward keep small per-thread ones,
//   grown the first time a shape is met.
// - Deterministic: the same inputs give bitwise the same outputs for any
//   OpenMP thread count, on any BLAS kernel (every reduction runs in a fixed
//   order per output element; no atomics; matrix products are cut into
//   pieces fixed by shape, each a single-threaded BLAS call: gemm_pieces.h).
// - exp and tanh are vectorized approximations (ops_math.h): ~3e-7 relative
//   error; softmax terms below e^-80 are flushed to 0 (never denormal).
// - Preconditions (C % NH == 0, even hs for rope, ...) are asserts: the
//   trainer validates its config once on entry.
//
// Threads and BLAS: every op is its own OpenMP loop, matmul_* and
// newton_schulz too (an omp loop over single-threaded sgemm pieces; call
// them at top level, not from inside your own omp parallel region, or they
// run on one thread); attention runs over (b, head) with register-tiled
// products (attention_tiles.h). The BLAS runs one thread per call, so its
// OpenMP and pthread builds behave alike; trainer/CMakeLists.txt links the
// OpenMP build. fp32 products run on oneDNN's f32 matmul instead where it
// runs AVX-512 (gemm_fp32.h), and bf16 products (Precision::kBf16) on its
// bf16 one, in the same pieces (dnnl_pieces.h, gemm_bf16.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/precision.h"

namespace ratchet::train {

// ---------------------------------------------------------------- encoder
// out[B,T,C] = wte[tokens[b,t]] + wpe[t]. wte [V,C]; wpe [>=T, C] or nullptr
// (no learned positions). tokens in [0, V).
void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                     int T, int C);
// dwte[V,C] += scatter of dout by token; dwpe[T,C] += sum over b (dwpe may be
// nullptr). Race-free: threads own disjoint channel ranges.
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                      int T, int C);

// ---------------------------------------------------------------- matmul
// Each takes the precision of its operands: kFp32 (sgemm or oneDNN f32
// pieces, the process's choice: gemm_fp32.h) or kBf16
// (both operands rounded to bf16, f32 sums and output: gemm_bf16.h; REQUIRES
// Bf16Supported()). Outputs and gradients are f32 either way.
// out[N,M] = inp[N,K] · w[K,M]   (weights stored [in, out]).
void matmul_forward(float* out, const float* inp, const float* w, int N, int K, int M,
                    Precision precision = Precision::kFp32);
// out[N,M] += inp[N,K] · w[K,M]: a residual branch added in the product
// itself, with no pass of its own over out.
void matmul_forward_add(float* out, const float* inp, const float* w, int N, int K, int M,
                        Precision precision = Precision::kFp32);
// dinp[N,K] = dout[N,M] · wᵀ (written; skipped when dinp is nullptr);
// dw[K,M] += inpᵀ · dout (accumulated over micro-batches).
void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int N, int K, int M, Precision precision = Precision::kFp32);
// Tied output head: out[N,M] = inp[N,K] · wᵀ with w [M,K] (e.g. wte [V,C]).
void matmul_wt_forward(float* out, const float* inp, const float* w, int N, int K, int M,
                       Precision precision = Precision::kFp32);
// dinp[N,K] = dout[N,M] · w (written; skipped when nullptr); dw[M,K] += doutᵀ · inp.
void matmul_wt_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                        int N, int K, int M, Precision precision = Precision::kFp32);

// The same bf16 products on operands already rounded (to_bf16,
// gemm_bf16.h: dense bf16 copies, same shapes as above), so that a tensor
// read by several products is rounded once: bitwise the same outputs as the
// Precision::kBf16 functions above on the f32 values they were rounded from.
// REQUIRES: Bf16Supported().
void matmul_forward_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K, int M);
void matmul_forward_add_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K,
                             int M);
void matmul_backward_bf16(float* dinp, float* dw, const uint16_t* dout, const uint16_t* inp,
                          const uint16_t* w, int N, int K, int M);
void matmul_wt_forward_bf16(float* out, const uint16_t* inp, const uint16_t* w, int N, int K,
                            int M);
void matmul_wt_backward_bf16(float* dinp, float* dw, const uint16_t* dout, const uint16_t* inp,
                             const uint16_t* w, int N, int K, int M);

// ---------------------------------------------------------------- norms
constexpr float kNormEps = 1e-5f;    // layernorm / rmsnorm of the residual
constexpr float kQkNormEps = 1e-6f;  // qk_norm

// out[N,C] = (inp - mean) * rstd * g + b, rstd = 1/sqrt(var + 1e-5);
// saves mean[N], rstd[N] for the backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* g,
                       const float* b, int N, int C);
// As layernorm_forward, with out16 = to_bf16 of what out would hold, each
// row rounded while it is in cache: under "precision": "bf16" a norm's
// output only feeds products, which read the bf16 copy, so the fp32 one is
// never written. REQUIRES: Bf16Supported().
void layernorm_forward_bf16(uint16_t* out16, float* mean, float* rstd, const float* inp,
                            const float* g, const float* b, int N, int C);
// dinp[N,C] +=, dg[C] +=, db[C] += .
void layernorm_backward(float* dinp, float* dg, float* db, const float* dout, const float* inp,
                        const float* g, const float* mean, const float* rstd, int N, int C);

// out[N,C] = inp * rstd * g (g nullptr: no gain), rstd = 1/sqrt(mean(inp²) +
// eps); saves rstd[N].
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* g, int N, int C,
                     float eps = kNormEps);
// As rmsnorm_forward, the output rounded to bf16 (layernorm_forward_bf16).
void rmsnorm_forward_bf16(uint16_t* out16, float* rstd, const float* inp, const float* g, int N,
                          int C, float eps = kNormEps);
// dinp[N,C] +=, dg[C] += (dg ignored when g is nullptr).
void rmsnorm_backward(float* dinp, float* dg, const float* dout, const float* inp, const float* g,
                      const float* rstd, int N, int C);

// ---------------------------------------------------------------- activations
// Elementwise over n values; backward: dinp = dout * f'(inp) (written; dinp
// may be dout itself).
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n);
// gelu_forward of inp[rows, cols], rounded to bf16 row by row in cache:
// out16 = to_bf16 of what gelu_forward would write. REQUIRES: Bf16Supported().
void gelu_forward_bf16(uint16_t* out16, const float* inp, int rows, int cols);
void relu2_forward(float* out, const float* inp, size_t n);
void relu2_backward(float* dinp, const float* dout, const float* inp, size_t n);
// inp [N,2H]: gate = inp[:, :H], up = inp[:, H:]; out[N,H] = silu(gate) * up.
void swiglu_forward(float* out, const float* inp, int N, int H);
// dinp[N,2H] = . (written)
void swiglu_backward(float* dinp, const float* dout, const float* inp, int N, int H);

// ---------------------------------------------------------------- qk_norm
// Packed qkv [B,T,3C] (q cols [0,C), k [C,2C), v [2C,3C); head j = cols
// [j*hs,(j+1)*hs) of each part). out: q and k of every head rms-normalized
// over its hs values (no gain, eps 1e-6), v copied. rstd [B,T,2,NH] saved
// (index ((b*T+t)*2 + part)*NH + head, part 0 = q, 1 = k). out may not alias
// inp.
void qknorm_forward(float* out, float* rstd, const float* inp, int B, int T, int C, int NH);
// dinp[B,T,3C] += ; the v part passes dout through.
void qknorm_backward(float* dinp, const float* dout, const float* inp, const float* rstd, int B,
                     int T, int C, int NH);

// ---------------------------------------------------------------- rope
// Tables cos/sin [T, hs/2]: angle(t, i) = t * rope_base^(-2i/hs). hs even.
void rope_tables(float* cos_table, float* sin_table, int T, int hs, float rope_base);
// Rotates q and k of packed qkv [B,T,3C] per head, pairs (i, i + hs/2):
// a' = a cos - b sin, b' = a sin + b cos; v copied. out may alias inp.
void rope_forward(float* out, const float* inp, const float* cos_table, const float* sin_table,
                  int B, int T, int C, int NH);
// dinp[B,T,3C] += inverse rotation of dout (v passes through). dinp must not
// alias dout.
void rope_backward(float* dinp, const float* dout, const float* cos_table, const float* sin_table,
                   int B, int T, int C, int NH);

// ---------------------------------------------------------------- attention
// Causal multi-head attention. qkv [B,T,3C] packed as above; out [B,T,C] heads
// concatenated; att [B,NH,T,T] is kept for the backward: row t receives the
// softmax probabilities of q kᵀ / sqrt(hs) over [0, t] and zeros over
// (t, min(T, t + kAttentionZeros)]. No one reads the entries further right;
// they keep what the buffer held or become zeros (a zeroed buffer stays
// zero above the diagonal): filling the whole upper triangle cost a write of
// half of att per layer.
constexpr int kAttentionZeros = 16;
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
// dqkv[B,T,3C] = . (written, every element)
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH);
// The same with the six products on bf16 operands and f32 sums (the softmax
// stays FP32): "precision": "bf16" (ops_attention_bf16.cc). In place of att,
// probs [attention_bf16_probs_size] keeps p rounded to bf16 for the
// backward, which also takes the forward's out. REQUIRES: Bf16Supported()
// (gemm_bf16.h).
size_t attention_bf16_probs_size(int B, int T, int NH);
void attention_forward_bf16(float* out, uint16_t* probs, const float* qkv, int B, int T, int C,
                            int NH);
void attention_backward_bf16(float* dqkv, const float* dout, const float* qkv, const float* out,
                             const uint16_t* probs, int B, int T, int C, int NH);

// ---------------------------------------------------------------- softcap
// out = cap * tanh(inp / cap) (out may alias inp).
void softcap_forward(float* out, const float* inp, float cap, size_t n);
// dinp += dout * (1 - (out/cap)²), from the forward's OUTPUT (so an in-place
// forward is fine). dinp must not alias dout.
void softcap_backward(float* dinp, const float* dout, const float* out, float cap, size_t n);

// ---------------------------------------------------------------- loss
// Fused softmax + cross-entropy over logits [N,V], targets [N] in [0,V).
// losses[N] = -log softmax(logits)[target] in nats.
// dlogits[N,V] is WRITTEN (not added): (softmax - onehot(target)) *
// dloss_scale (e.g. 1 / (B*T*grad_accum)); skipped when dlogits is nullptr.
// dlogits may alias logits (in-place gradient).
void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                   const int32_t* targets, float dloss_scale, int N, int V);
// Inference: nll[N] = -log softmax(logits)[target], nats; no gradient.
void crossentropy_nll(float* nll, const float* logits, const int32_t* targets, int N, int V);

// ---------------------------------------------------------------- Muon
// Floats of scratch newton_schulz needs for a [rows, cols] matrix.
size_t newton_schulz_scratch_floats(int rows, int cols);
// out[rows,cols] ≈ orthogonalized g (U Vᵀ of its SVD, singular values pushed
// into roughly [0.7, 1.2]): X = g / (||g||_F + 1e-7), transposed when
// rows > cols, then `steps` quintic iterations A = X Xᵀ, B = b A + c A A,
// X = a X + B X with (a, b, c) = (3.4445, -4.7750, 2.0315) (Keller Jordan's
// Muon). out may alias g. scratch: newton_schulz_scratch_floats(rows, cols).
void newton_schulz(float* out, const float* g, float* scratch, int rows, int cols, int steps = 5);

}  // namespace ratchet::train

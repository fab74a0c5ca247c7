// The optimizers, as one flat pass over the parameter arena.
//
// Every step first clips the gradient by its global L2 norm (grad_clip > 0),
// then updates each tensor by its group (see ParamGroup in model.h):
//   adamw: AdamW (bias-corrected, eps 1e-8) for every tensor. Learning rate
//          embed_lr (embeddings), matrix_lr (hidden matrices), lr (lm_head,
//          gains, biases). Decoupled weight decay p -= lr_eff * wd * p on the
//          2-D weight matrices only (hidden matrices and lm_head); embeddings,
//          gains and biases are not decayed (common practice: GPT-2/nanoGPT).
//   muon : hidden matrices (attn.wqkv, attn.wo, mlp.wfc, mlp.wproj) take
//          Muon: buf = mu*buf + g; u = g + mu*buf (nesterov); o =
//          NewtonSchulz(u) (5 quintic steps, singular values ~1);
//          p -= matrix_lr_eff * (wd * p + sqrt(max(1, out/in)) * o)
//          (the out/in shape factor of Keller Jordan's Muon; our matrices are
//          stored [in, out]). Everything else takes AdamW as above.
// lr_eff = group rate * the schedule multiplier given to Step.
// State (AdamW m and v, Muon momentum, Newton-Schulz scratch) is allocated at
// construction; Step allocates nothing and is deterministic for a fixed
// thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/config.h"
#include "trainer/model.h"

namespace ratchet::train {

class Optimizer {
 public:
  Optimizer(const Config& config, const std::vector<TensorInfo>& layout);

  // Updates params with grads scaled to a global norm of at most grad_clip
  // (the scale is applied on the fly: grads are left as they are, which saves
  // a pass over them). Returns the global gradient norm before clipping.
  // REQUIRES: arenas laid out as `layout`.
  float Step(float* params, const float* grads, double lr_multiplier);

  int64_t steps() const { return t_; }

 private:
  // g is used as g * gscale (the clip).
  void AdamW(float* p, const float* g, float gscale, float* m, float* v, size_t n, float lr,
             float wd);
  void Muon(float* p, const float* g, float gscale, float* buf, const TensorInfo& t, float lr,
            float wd);

  Config config_;
  std::vector<TensorInfo> layout_;
  HugePageFloats m_, v_;       // AdamW moments; m_ is Muon's momentum for its matrices
  std::vector<float> ns_in_;   // nesterov input of the Newton-Schulz iteration
  std::vector<float> ns_out_;  // its output
  std::vector<float> ns_scratch_;
  std::vector<double> partial_;  // per-chunk sums of squares (fixed order)
  int64_t t_ = 0;
};

// Global L2 norm of n floats, summed in a fixed order (deterministic for any
// thread count). `partial` must hold kNormChunks doubles.
inline constexpr int kNormChunks = 256;
double GlobalNorm(const float* x, size_t n, double* partial);

}  // namespace ratchet::train

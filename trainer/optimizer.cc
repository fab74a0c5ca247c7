#include "trainer/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "trainer/ops.h"

namespace ratchet::train {

double GlobalNorm(const float* x, size_t n, double* partial) {
  const size_t chunk = (n + kNormChunks - 1) / kNormChunks;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < kNormChunks; ++c) {
    size_t lo = std::min(n, c * chunk), hi = std::min(n, lo + chunk);
    // Eight double lanes, summed in lane order: vectorized, and the order
    // still depends only on the chunk, not on the threads.
    typedef float F8 __attribute__((vector_size(32)));
    typedef double D8 __attribute__((vector_size(64)));
    D8 acc = {};
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
      F8 f;
      std::memcpy(&f, x + i, sizeof f);
      const D8 d = __builtin_convertvector(f, D8);
      acc += d * d;
    }
    double s = 0;
    for (int lane = 0; lane < 8; ++lane) s += acc[lane];
    for (; i < hi; ++i) s += static_cast<double>(x[i]) * x[i];
    partial[c] = s;
  }
  double total = 0;
  for (int c = 0; c < kNormChunks; ++c) total += partial[c];
  return std::sqrt(total);
}

Optimizer::Optimizer(const Config& config, const std::vector<TensorInfo>& layout)
    : config_(config), layout_(layout) {
  size_t n = layout.back().offset + layout.back().numel;
  m_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
  partial_.assign(kNormChunks, 0.0);
  if (config.optimizer == OptimizerKind::kMuon) {
    size_t largest = 0, scratch = 0;
    for (const auto& t : layout) {
      if (t.group != ParamGroup::kMatrix) continue;
      largest = std::max(largest, t.numel);
      scratch = std::max(scratch, newton_schulz_scratch_floats(t.shape[0], t.shape[1]));
    }
    ns_in_.assign(largest, 0.0f);
    ns_out_.assign(largest, 0.0f);
    ns_scratch_.assign(scratch, 0.0f);
  }
}

void Optimizer::AdamW(float* p, const float* g, float gscale, float* m, float* v, size_t n,
                      float lr, float wd) {
  const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
  const float bc1 = 1.0f - static_cast<float>(std::pow(config_.beta1, static_cast<double>(t_)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(config_.beta2, static_cast<double>(t_)));
  const float step = lr / bc1, inv_bc2 = 1.0f / bc2, decay = 1.0f - lr * wd;
#pragma omp parallel for simd schedule(static) if (n > 4096)
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] * gscale;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi * inv_bc2) + 1e-8f);
  }
}

void Optimizer::Muon(float* p, const float* g, float gscale, float* buf, const TensorInfo& t,
                     float lr, float wd) {
  const int rows = t.shape[0], cols = t.shape[1];  // [in, out]
  const size_t n = t.numel;
  const float mu = static_cast<float>(config_.muon_momentum);
  float* u = ns_in_.data();
#pragma omp parallel for simd schedule(static) if (n > 4096)
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] * gscale;
    buf[i] = mu * buf[i] + gi;
    u[i] = gi + mu * buf[i];
  }
  newton_schulz(ns_out_.data(), u, ns_scratch_.data(), rows, cols, config_.muon_ns_steps);
  const float scale = std::sqrt(std::max(1.0f, static_cast<float>(cols) / rows));
  const float step = lr * scale, decay = 1.0f - lr * wd;
  const float* o = ns_out_.data();
#pragma omp parallel for simd schedule(static) if (n > 4096)
  for (size_t i = 0; i < n; ++i) p[i] = p[i] * decay - step * o[i];
}

float Optimizer::Step(float* params, const float* grads, double lr_multiplier) {
  ++t_;
  const size_t n = m_.size();
  const double norm = GlobalNorm(grads, n, partial_.data());
  float s = 1.0f;  // g * 1.0f is g exactly: no clip, no change
  if (config_.grad_clip > 0 && norm > config_.grad_clip) {
    s = static_cast<float>(config_.grad_clip / norm);
  }
  const bool muon = config_.optimizer == OptimizerKind::kMuon;
  const float wd = static_cast<float>(config_.weight_decay);
  for (const auto& t : layout_) {
    float* p = params + t.offset;
    const float* g = grads + t.offset;
    switch (t.group) {
      case ParamGroup::kEmbedding:
        AdamW(p, g, s, m_.data() + t.offset, v_.data() + t.offset, t.numel,
              static_cast<float>(config_.embed_lr * lr_multiplier), 0.0f);
        break;
      case ParamGroup::kMatrix: {
        const float lr = static_cast<float>(config_.matrix_lr * lr_multiplier);
        if (muon) {
          Muon(p, g, s, m_.data() + t.offset, t, lr, wd);
        } else {
          AdamW(p, g, s, m_.data() + t.offset, v_.data() + t.offset, t.numel, lr, wd);
        }
        break;
      }
      case ParamGroup::kHead:
        AdamW(p, g, s, m_.data() + t.offset, v_.data() + t.offset, t.numel,
              static_cast<float>(config_.lr * lr_multiplier), wd);
        break;
      case ParamGroup::kNorm:
        AdamW(p, g, s, m_.data() + t.offset, v_.data() + t.offset, t.numel,
              static_cast<float>(config_.lr * lr_multiplier), 0.0f);
        break;
    }
  }
  return static_cast<float>(norm);
}

}  // namespace ratchet::train

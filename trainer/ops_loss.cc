// Output side: logit softcap and the fused softmax + cross-entropy.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

namespace {

using internal::ExpV;
using internal::kLanes;
using internal::LoadN;
using internal::Splat;
using internal::StoreN;
using internal::Vec;

// Per row: writes loss, and dlogits when non-null. logits and dlogits may be
// the same buffer (the target logit is read before any gradient is written).
inline void SoftmaxCrossEntropyRow(float* loss, float* dlogits, const float* logits, int target,
                                   float dloss_scale, int V) {
  const float lowest = -std::numeric_limits<float>::max();
  Vec max_v = Splat(lowest);
  for (int v = 0; v < V; v += kLanes) {
    max_v = internal::MaxV(max_v, LoadN(logits + v, std::min(kLanes, V - v), lowest));
  }
  const float maxv = internal::MaxLanes(max_v);
  Vec sum_v = {};
  for (int v = 0; v < V; v += kLanes) {
    const int count = std::min(kLanes, V - v);
    sum_v += internal::MaskTail(ExpV(LoadN(logits + v, count) - maxv), count);
  }
  const float sum = internal::SumLanes(sum_v);
  *loss = std::log(sum) + maxv - logits[target];
  if (!dlogits) return;
  // Recomputing the exps (instead of keeping them) keeps the kernel free of
  // scratch buffers; it costs V exps per row, small next to the head matmul.
  const float scale = dloss_scale / sum;
  for (int v = 0; v < V; v += kLanes) {
    const int count = std::min(kLanes, V - v);
    StoreN(dlogits + v, ExpV(LoadN(logits + v, count) - maxv) * scale, count);
  }
  dlogits[target] -= dloss_scale;
}

}  // namespace

void softcap_forward(float* out, const float* inp, float cap, size_t n) {
  // out [n], inp [n]
  assert(cap > 0.0f);
  const float inv_cap = 1.0f / cap;
  internal::ParallelForLanes(n, [&](size_t i, int count) {
    StoreN(out + i, cap * internal::TanhV(LoadN(inp + i, count) * inv_cap), count);
  });
}

void softcap_backward(float* dinp, const float* dout, const float* out, float cap, size_t n) {
  // dinp [n], dout [n], out [n] (the forward's output)
  assert(cap > 0.0f && dinp != dout);
  const float inv_cap = 1.0f / cap;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    const float th = out[i] * inv_cap;
    dinp[i] += dout[i] * (1.0f - th * th);
  }
}

void crossentropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                   const int32_t* targets, float dloss_scale, int N, int V) {
  // losses [N], dlogits [N,V] or null, logits [N,V], targets [N]
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const size_t row = static_cast<size_t>(n) * V;
    SoftmaxCrossEntropyRow(&losses[n], dlogits ? dlogits + row : nullptr, logits + row, targets[n],
                           dloss_scale, V);
  }
}

void crossentropy_nll(float* nll, const float* logits, const int32_t* targets, int N, int V) {
  crossentropy_forward_backward(nll, nullptr, logits, targets, 0.0f, N, V);
}

}  // namespace ratchet::train

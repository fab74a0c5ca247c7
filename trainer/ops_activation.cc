// Elementwise MLP activations (GELU tanh approximation, ReLU², SwiGLU). exp
// goes through the vector code of ops_math.h.
#include <algorithm>

#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

namespace {

using internal::LoadN;
using internal::SigmoidPair;
using internal::StoreN;
using internal::Vec;

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCube = 0.044715f;

inline Vec GeluArg(Vec x) { return kGeluScale * (x + kGeluCube * x * x * x); }

inline Vec Gelu(Vec x) {
  Vec s, one_minus_s;
  SigmoidPair(2.0f * GeluArg(x), &s, &one_minus_s);
  return x * s;
}

}  // namespace

void gelu_forward(float* out, const float* inp, size_t n) {
  // out [n], inp [n]
  // 0.5 x (1 + tanh(u)) = x * sigmoid(2u): the sigmoid form stays accurate
  // in the far negative tail, where 1 + tanh(u) cancels.
  internal::ParallelForLanes(n, [&](size_t i, int count) {
    internal::PrefetchAhead(inp + i);
    StoreN(out + i, Gelu(LoadN(inp + i, count)), count);
  });
}

void gelu_forward_bf16(uint16_t* out16, const float* inp, int rows, int cols) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    const float* x = inp + static_cast<size_t>(r) * cols;
    float* y = internal::ThreadBuffer(cols);
    for (int c = 0; c < cols; c += internal::kLanes) {
      const int count = std::min(internal::kLanes, cols - c);
      internal::PrefetchAhead(x + c);
      StoreN(y + c, Gelu(LoadN(x + c, count)), count);
    }
    to_bf16_row(out16 + static_cast<size_t>(r) * cols, y, cols);
  }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
  // dinp [n], dout [n], inp [n]
  // d/dx [x s(2u)] = s + 2 x s (1 - s) u'.
  internal::ParallelForLanes(n, [&](size_t i, int count) {
    internal::PrefetchAhead(inp + i);
    internal::PrefetchAhead(dout + i);
    const Vec x = LoadN(inp + i, count);
    const Vec du = kGeluScale * (1.0f + 3.0f * kGeluCube * x * x);
    Vec s, one_minus_s;
    SigmoidPair(2.0f * GeluArg(x), &s, &one_minus_s);
    const Vec grad = s + 2.0f * x * (s * one_minus_s) * du;
    StoreN(dinp + i, grad * LoadN(dout + i, count), count);
  });
}

void relu2_forward(float* out, const float* inp, size_t n) {
  // out [n], inp [n]
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    const float r = inp[i] > 0.0f ? inp[i] : 0.0f;
    out[i] = r * r;
  }
}

void relu2_backward(float* dinp, const float* dout, const float* inp, size_t n) {
  // dinp [n], dout [n], inp [n]
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) {
    const float r = inp[i] > 0.0f ? inp[i] : 0.0f;
    dinp[i] = 2.0f * r * dout[i];
  }
}

void swiglu_forward(float* out, const float* inp, int N, int H) {
  // out [N,H], inp [N,2H] = [gate | up]
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float* gate = inp + static_cast<size_t>(n) * 2 * H;
    const float* up = gate + H;
    float* y = out + static_cast<size_t>(n) * H;
    for (int h = 0; h < H; h += internal::kLanes) {
      const int count = std::min(internal::kLanes, H - h);
      const Vec g = LoadN(gate + h, count);
      Vec s, one_minus_s;
      SigmoidPair(g, &s, &one_minus_s);
      StoreN(y + h, g * s * LoadN(up + h, count), count);
    }
  }
}

void swiglu_backward(float* dinp, const float* dout, const float* inp, int N, int H) {
  // dinp [N,2H], dout [N,H], inp [N,2H]
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    const float* gate = inp + static_cast<size_t>(n) * 2 * H;
    const float* up = gate + H;
    const float* dy = dout + static_cast<size_t>(n) * H;
    float* dgate = dinp + static_cast<size_t>(n) * 2 * H;
    float* dup = dgate + H;
    for (int h = 0; h < H; h += internal::kLanes) {
      const int count = std::min(internal::kLanes, H - h);
      const Vec g = LoadN(gate + h, count), u = LoadN(up + h, count);
      const Vec d = LoadN(dy + h, count);
      Vec s, one_minus_s;
      SigmoidPair(g, &s, &one_minus_s);
      StoreN(dgate + h, d * u * s * (1.0f + g * one_minus_s), count);
      StoreN(dup + h, d * g * s, count);
    }
  }
}

}  // namespace ratchet::train

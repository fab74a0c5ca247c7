// Explicitly vectorized float exp / tanh for the kernels in ops_*.cc, on GCC
// vector extensions (8 floats; the compiler maps them to AVX/AVX-512 under
// -march=native, or splits them on narrower machines).
//
// Why not plain loops over expf/tanhf: the trainer is not built with
// -ffast-math, so GCC never vectorizes libm calls; and even a branch-free
// inline exp written with scalar ternaries gets its clamp split into separate
// constant-folded paths by PRE, which stops the vectorizer ("control flow in
// loop"). Writing the 8-lane code by hand sidesteps both.
//
// Every element goes through the same vector code, including the tail of an
// array (loaded into a partially filled vector), so results never depend on
// where a thread's chunk starts: the kernels stay thread-count invariant.
// Accuracy: Exp8 (Cephes expf polynomial) ~1e-7 relative (flushed to 0
// below -80); Tanh8 (Eigen's
// rational approximation) ~3e-7; both are checked in ops_test.cc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace ratchet::train::internal {

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;

inline F8 Splat(float s) { return F8{} + s; }

inline F8 Load8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store8(float* p, F8 v) { std::memcpy(p, &v, sizeof(v)); }

// Loads p[0..count) (count <= 8); the other lanes hold `fill`.
inline F8 LoadN(const float* p, int count, float fill = 0.0f) {
  if (count == kLanes) return Load8(p);
  F8 v = Splat(fill);
  for (int i = 0; i < count; i++) v[i] = p[i];
  return v;
}
inline void StoreN(float* p, F8 v, int count) {
  if (count == kLanes) {
    Store8(p, v);
    return;
  }
  for (int i = 0; i < count; i++) p[i] = v[i];
}

// Lanes >= count set to zero.
inline F8 MaskTail(F8 v, int count) {
  const I8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
  return lane < count ? v : F8{};
}

// Lane sums / maxima in a fixed order (deterministic).
inline float SumLanes(F8 v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; i++) s += v[i];
  return s;
}
inline float MaxLanes(F8 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; i++) m = v[i] > m ? v[i] : m;
  return m;
}
inline F8 Max8(F8 a, F8 b) { return a > b ? a : b; }

// exp(x), with exp(x) = 0 for x < -80 and exp(88) for x > 88: results are
// never inf and never denormal (denormal operands cost ~100x on x86 in the
// products that follow).
inline F8 Exp8(F8 in) {
  F8 x = in < -80.0f ? Splat(-80.0f) : in;
  x = x > 88.0f ? Splat(88.0f) : x;  // n <= 127: no inf
  const I8 n =
      __builtin_convertvector(x * 1.44269504088896341f + 256.5f, I8) - 256;
  const F8 fx = __builtin_convertvector(n, F8);
  F8 r = x - fx * 0.693359375f;  // ln2 split in two for an exact reduction
  r = r + fx * 2.12194440e-4f;
  const F8 z = r * r;
  F8 y = Splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  const I8 e = (n + 127) << 23;  // 2^n as float bits
  const F8 result = y * (F8)e;  // GCC: same-size vector cast reinterprets bits
  return in < -80.0f ? F8{} : result;
}

// sigmoid(z) and 1 - sigmoid(z), both accurate in both tails: with
// e = exp(-|z|) <= 1 nothing overflows, and the small one is e / (1 + e).
inline void SigmoidPair(F8 z, F8* s, F8* one_minus_s) {
  const F8 abs_z = z < 0.0f ? -z : z;
  const F8 e = Exp8(-abs_z);
  const F8 big = 1.0f / (1.0f + e), small = e * big;
  *s = z >= 0.0f ? big : small;
  *one_minus_s = z >= 0.0f ? small : big;
}

// tanh(x): the rational fit on [-7.9053, 7.9053], exactly ±1 beyond |x| = 9
// (where float tanh rounds to ±1).
inline F8 Tanh8(F8 in) {
  const float kClamp = 7.90531110763549805f;
  F8 x = in < -kClamp ? Splat(-kClamp) : in;
  x = x > kClamp ? Splat(kClamp) : x;
  const F8 x2 = x * x;
  F8 p = Splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  F8 q = Splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const F8 r = p / q;
  F8 out = in >= 9.0f ? Splat(1.0f) : r;
  out = in <= -9.0f ? Splat(-1.0f) : out;
  return out;
}

// Scalar forms through the same vector code (bitwise the same results).
inline float FastExp(float x) { return Exp8(Splat(x))[0]; }
inline float FastTanh(float x) { return Tanh8(Splat(x))[0]; }

// Calls body(i, count) for the blocks [i, i + count) of 8 elements covering
// [0, n), in parallel over blocks; only the last block can be partial, so
// every element takes the same code path whatever the thread count.
template <class Body>
inline void ParallelForLanes(size_t n, const Body& body) {
  const size_t blocks = (n + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < blocks; b++) {
    const size_t i = b * kLanes;
    body(i, static_cast<int>(std::min<size_t>(kLanes, n - i)));
  }
}

}  // namespace ratchet::train::internal

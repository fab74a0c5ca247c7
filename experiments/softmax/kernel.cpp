// Row-wise FP32 softmax, y[r][:] = softmax(x[r][:]), shaped by compile-time
// tunables that ratchet-kbench passes as -D values from tune.json:
//
//   EXP      0: std::exp (a libm call per element);
//            1: an inline polynomial exp (Cody-Waite reduction, degree 6,
//               about 2 ulp) computed on whole vectors
//   VEC      floats per vector (4: SSE, 8: AVX2, 16: AVX-512)
//   ACCUM    independent vector accumulators for the row max and sum (the
//            compiler may not reassociate a float sum by itself)
//   STORE    1: store exp(x - max) in y, then scale y; 0: sum first, then
//            recompute exp in the scaling pass (less memory traffic, more math)
//   RECIP    1: multiply by 1/sum; 0: divide every element
//   ROWS     rows per thread chunk (threads take chunks in a fixed order)
//
// Each row is computed by one thread in a fixed order: results do not depend
// on the number of threads or on scheduling.
#include <cmath>
#include <cstring>

#include "kbench_abi.h"

#ifndef EXP
#define EXP 0
#endif
#ifndef VEC
#define VEC 4
#endif
#ifndef ACCUM
#define ACCUM 1
#endif
#ifndef STORE
#define STORE 1
#endif
#ifndef RECIP
#define RECIP 0
#endif
#ifndef ROWS
#define ROWS 16
#endif

static_assert(ACCUM >= 1 && ROWS >= 1 && VEC >= 1, "sizes must be positive");

namespace {

typedef float Vec __attribute__((vector_size(VEC * sizeof(float))));
typedef int IVec __attribute__((vector_size(VEC * sizeof(int))));
constexpr int kStep = VEC * ACCUM;  // Floats per main-loop iteration.

inline Vec Load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void Store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }

// exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2) / 2. The same
// arithmetic for a vector or a float (the row's tail), so both agree.
template <typename V, typename I>
inline V PolyExp(V x) {
  x = x < -87.0f ? V{} - 87.0f : x;
  x = x > 88.0f ? V{} + 88.0f : x;
  // Round to nearest by the 1.5 * 2^23 trick (|x / ln 2| < 2^22).
  const V n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;
  V p = V{} + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  I bits;
  if constexpr (sizeof(V) == sizeof(float)) {
    bits = (static_cast<int>(n) + 127) << 23;
  } else {
    bits = (__builtin_convertvector(n, I) + 127) << 23;
  }
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float Exp(float x) {
#if EXP
  return PolyExp<float, int>(x);
#else
  return std::exp(x);
#endif
}

inline Vec Exp(Vec x) {
#if EXP
  return PolyExp<Vec, IVec>(x);
#else
  for (int i = 0; i < VEC; ++i) x[i] = std::exp(x[i]);
  return x;
#endif
}

void SoftmaxRow(const float* x, float* y, int cols) {
  Vec part[ACCUM];
  for (int a = 0; a < ACCUM; ++a) part[a] = Vec{} - INFINITY;
  int c = 0;
  for (; c + kStep <= cols; c += kStep) {
    for (int a = 0; a < ACCUM; ++a) {
      const Vec v = Load(x + c + a * VEC);
      part[a] = v > part[a] ? v : part[a];
    }
  }
  float max = -INFINITY;
  for (int a = 0; a < ACCUM; ++a) {
    for (int i = 0; i < VEC; ++i) max = part[a][i] > max ? part[a][i] : max;
  }
  for (int t = c; t < cols; ++t) max = x[t] > max ? x[t] : max;

  for (int a = 0; a < ACCUM; ++a) part[a] = Vec{};
  c = 0;
  for (; c + kStep <= cols; c += kStep) {
    for (int a = 0; a < ACCUM; ++a) {
      const Vec e = Exp(Load(x + c + a * VEC) - max);
#if STORE
      Store(y + c + a * VEC, e);
#endif
      part[a] += e;
    }
  }
  float sum = 0.0f;
  for (int a = 0; a < ACCUM; ++a) {
    for (int i = 0; i < VEC; ++i) sum += part[a][i];
  }
  for (int t = c; t < cols; ++t) {
    const float e = Exp(x[t] - max);
#if STORE
    y[t] = e;
#endif
    sum += e;
  }

#if RECIP
  const float inv = 1.0f / sum;
#endif
  c = 0;
  for (; c + VEC <= cols; c += VEC) {
#if STORE
    const Vec e = Load(y + c);
#else
    const Vec e = Exp(Load(x + c) - max);
#endif
#if RECIP
    Store(y + c, e * inv);
#else
    Store(y + c, e / sum);
#endif
  }
  for (; c < cols; ++c) {
#if STORE
    const float e = y[c];
#else
    const float e = Exp(x[c] - max);
#endif
#if RECIP
    y[c] = e * inv;
#else
    y[c] = e / sum;
#endif
  }
}

}  // namespace

extern "C" void kernel_softmax(const float* x, float* y, int rows, int cols, int threads) {
  const int chunks = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const int end = chunk * ROWS + ROWS < rows ? chunk * ROWS + ROWS : rows;
    for (int r = chunk * ROWS; r < end; ++r) {
      SoftmaxRow(x + (long)r * cols, y + (long)r * cols, cols);
    }
  }
}

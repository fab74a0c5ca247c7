#include "harness/kbench_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace ratchet::kbench {
namespace {

using Clock = std::chrono::steady_clock;

// Independent accumulators: enough to cover the FMA latency on every pipe.
constexpr int kChains = 12;
constexpr int64_t kItersPerChunk = 1 << 16;

// Each runs `iters` rounds of kChains FMAs and returns a value that depends
// on all of them (so the compiler keeps the work).
__attribute__((target("avx512f"))) float Chains512(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + c * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) float Chains256(int64_t iters) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + c * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

float ChainsScalar(int64_t iters) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1.0f + c * 1e-3f;
  for (int64_t i = 0; i < iters; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * 0.999999f + 1e-7f;
  }
  float sum = 0;
  for (float x : acc) sum += x;
  return sum;
}

}  // namespace

double MeasureFmaPeakGflops(int threads) {
  __builtin_cpu_init();
  int lanes = 1;
  float (*chains)(int64_t) = ChainsScalar;
  if (__builtin_cpu_supports("avx512f")) {
    lanes = 16;
    chains = Chains512;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    lanes = 8;
    chains = Chains256;
  }
  double best = 0;
  volatile float sink = 0;
  for (int run = 0; run < 3; ++run) {  // ~20 ms each; the best is the least disturbed
    const auto start = Clock::now();
    int64_t chunks = 0;
    double seconds = 0;
    do {
      sink = sink + chains(kItersPerChunk);
      ++chunks;
      seconds = std::chrono::duration<double>(Clock::now() - start).count();
    } while (seconds < 0.02);
    const double flops = 2.0 * lanes * kChains * kItersPerChunk * static_cast<double>(chunks);
    best = std::max(best, flops / seconds / 1e9);
  }
  return best * std::max(1, threads);
}

}  // namespace ratchet::kbench

// A straightforward causal attention: for each query, scores against every
// visible key, a stable softmax, then the weighted sum of values.
#include <cmath>
#include <vector>

#include "kbench_abi.h"

extern "C" void kernel_attention(const float* q, const float* k, const float* v, float* out, int B,
                                 int NH, int T, int HS, int threads) {
  (void)threads;
  std::vector<float> w(T);
  const float scale = 1.0f / std::sqrt((float)HS);
  for (long bh = 0; bh < (long)B * NH; ++bh) {
    const float* q_h = q + bh * T * HS;
    const float* k_h = k + bh * T * HS;
    const float* v_h = v + bh * T * HS;
    float* out_h = out + bh * T * HS;
    for (int t = 0; t < T; ++t) {
      float max = -INFINITY;
      for (int s = 0; s <= t; ++s) {
        float dot = 0.0f;
        for (int d = 0; d < HS; ++d) dot += q_h[t * HS + d] * k_h[s * HS + d];
        w[s] = dot * scale;
        max = w[s] > max ? w[s] : max;
      }
      float sum = 0.0f;
      for (int s = 0; s <= t; ++s) {
        w[s] = std::exp(w[s] - max);
        sum += w[s];
      }
      for (int d = 0; d < HS; ++d) out_h[t * HS + d] = 0.0f;
      for (int s = 0; s <= t; ++s) {
        const float p = w[s] / sum;
        for (int d = 0; d < HS; ++d) out_h[t * HS + d] += p * v_h[s * HS + d];
      }
    }
  }
}

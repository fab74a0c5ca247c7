#include "harness/kbench_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ratchet::kbench {

void ReferenceMatmulRow(const float* A, const float* B, int N, int K, int i, double* ref,
                        double* scale) {
  // A is [M][K], B is [K][N]; only row i of A is read.
  const float* a_i = A + static_cast<int64_t>(i) * K;
  std::fill(ref, ref + N, 0.0);
  std::fill(scale, scale + N, 0.0);
  for (int k = 0; k < K; ++k) {
    const double a = a_i[k];
    const float* b_k = B + static_cast<int64_t>(k) * N;
    for (int j = 0; j < N; ++j) {
      const double p = a * b_k[j];
      ref[j] += p;
      scale[j] += std::fabs(p);
    }
  }
}

void ReferenceSoftmaxRow(const float* x, int cols, double* ref, double* scale) {
  double max = -INFINITY;
  for (int c = 0; c < cols; ++c) max = std::max(max, static_cast<double>(x[c]));
  double sum = 0;
  for (int c = 0; c < cols; ++c) {
    ref[c] = std::exp(x[c] - max);
    sum += ref[c];
  }
  // Tiny probabilities are judged against a floor well below the mean 1/cols:
  // a fast exp may lose their low bits, which no consumer can see.
  const double floor = 1e-3 / cols;
  for (int c = 0; c < cols; ++c) {
    ref[c] /= sum;
    scale[c] = ref[c] + floor;
  }
}

void ReferenceRmsnormRow(const float* x, const float* weight, int cols, double eps, double* ref,
                         double* scale) {
  double ss = 0;
  for (int c = 0; c < cols; ++c) ss += static_cast<double>(x[c]) * x[c];
  const double inv = 1.0 / std::sqrt(ss / cols + eps);
  for (int c = 0; c < cols; ++c) {
    ref[c] = x[c] * inv * weight[c];
    scale[c] = std::fabs(ref[c]) + std::fabs(static_cast<double>(weight[c]));
  }
}

void ReferenceLayernormRow(const float* x, const float* weight, const float* bias, int cols,
                           double eps, double* ref, double* scale) {
  double mean = 0;
  for (int c = 0; c < cols; ++c) mean += x[c];
  mean /= cols;
  double var = 0;
  for (int c = 0; c < cols; ++c) var += (x[c] - mean) * (x[c] - mean);
  var /= cols;
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int c = 0; c < cols; ++c) {
    ref[c] = (x[c] - mean) * inv * weight[c] + bias[c];
    scale[c] = std::fabs(ref[c]) + std::fabs(static_cast<double>(weight[c]));
  }
}

void ReferenceAttentionRow(const float* q, const float* k, const float* v, int HS, int t,
                           double* ref, double* scale) {
  // q, k, v: [T][HS] of one head; positions 0..t are visible from t.
  const float* q_t = q + static_cast<int64_t>(t) * HS;
  std::vector<double> w(t + 1);
  double max = -INFINITY;
  for (int s = 0; s <= t; ++s) {
    const float* k_s = k + static_cast<int64_t>(s) * HS;
    double dot = 0;
    for (int d = 0; d < HS; ++d) dot += static_cast<double>(q_t[d]) * k_s[d];
    w[s] = dot / std::sqrt(static_cast<double>(HS));
    max = std::max(max, w[s]);
  }
  double sum = 0;
  for (int s = 0; s <= t; ++s) {
    w[s] = std::exp(w[s] - max);
    sum += w[s];
  }
  // The output is a convex mix of the visible v rows: its error is measured
  // against the largest |v| it mixes.
  double vmax = 0;
  std::fill(ref, ref + HS, 0.0);
  for (int s = 0; s <= t; ++s) {
    const float* v_s = v + static_cast<int64_t>(s) * HS;
    for (int d = 0; d < HS; ++d) {
      ref[d] += w[s] / sum * v_s[d];
      vmax = std::max(vmax, std::fabs(static_cast<double>(v_s[d])));
    }
  }
  std::fill(scale, scale + HS, vmax);
}

void ReferenceRopeRow(const float* x, int HS, int t, double base, double* ref, double* scale) {
  for (int i = 0; i < HS / 2; ++i) {
    const double angle = t * std::pow(base, -2.0 * i / HS);
    const double c = std::cos(angle), s = std::sin(angle);
    const double x0 = x[2 * i], x1 = x[2 * i + 1];
    ref[2 * i] = x0 * c - x1 * s;
    ref[2 * i + 1] = x0 * s + x1 * c;
    scale[2 * i] = scale[2 * i + 1] = std::hypot(x0, x1);
  }
}

}  // namespace ratchet::kbench

// Shared helpers of the ops tests: seeded random buffers, closeness checks
// that report the worst element, a central-difference gradient checker that
// must be able to fail, and a thread-count switch.
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ratchet::train::testing {

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<int32_t> RandomTokens(size_t n, uint32_t seed, int V) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, V - 1);
  std::vector<int32_t> v(n);
  for (int32_t& x : v) x = dist(rng);
  return v;
}

// Passes when every |actual - expected| <= atol + rtol * |expected|; on
// failure names the worst element.
inline ::testing::AssertionResult AllClose(const std::vector<float>& actual,
                                           const std::vector<float>& expected, double rtol,
                                           double atol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs " << expected.size();
  }
  double worst = 0.0;
  size_t worst_i = 0;
  for (size_t i = 0; i < actual.size(); i++) {
    const double err = std::fabs(double(actual[i]) - expected[i]);
    const double excess = err - (atol + rtol * std::fabs(double(expected[i])));
    if (!(excess <= worst)) {  // also catches NaN
      worst = std::isnan(excess) ? INFINITY : excess;
      worst_i = i;
    }
  }
  if (worst > 0.0) {
    return ::testing::AssertionFailure()
           << "element " << worst_i << ": " << actual[worst_i] << " vs " << expected[worst_i]
           << " (rtol " << rtol << ", atol " << atol << ")";
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult BitwiseEqual(const std::vector<float>& a,
                                               const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < a.size(); i++) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// dL/dx[i] by central differences of loss() while x[i] is moved by ±eps
// (the step actually taken after float rounding is used as denominator).
inline std::vector<double> NumericalGradient(std::vector<float>& x,
                                             const std::function<double()>& loss,
                                             float eps = 1e-2f) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    const float saved = x[i];
    const float plus = saved + eps, minus = saved - eps;
    x[i] = plus;
    const double lp = loss();
    x[i] = minus;
    const double lm = loss();
    x[i] = saved;
    grad[i] = (lp - lm) / (double(plus) - double(minus));
  }
  return grad;
}

// Gradient agreement: max |analytic - numeric| <= tol * max(|numeric|), i.e.
// the error relative to the gradient's own scale.
inline ::testing::AssertionResult GradientMatches(const std::vector<float>& analytic,
                                                  const std::vector<double>& numeric, double tol) {
  double scale = 1e-12, worst = 0.0;
  size_t worst_i = 0;
  for (double g : numeric) scale = std::max(scale, std::fabs(g));
  for (size_t i = 0; i < numeric.size(); i++) {
    const double err = std::fabs(analytic[i] - numeric[i]);
    if (!(err <= worst)) {
      worst = std::isnan(err) ? INFINITY : err;
      worst_i = i;
    }
  }
  if (worst > tol * scale) {
    return ::testing::AssertionFailure()
           << "element " << worst_i << ": analytic " << analytic[worst_i] << " vs numeric "
           << numeric[worst_i] << " (gradient scale " << scale << ", tol " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

// The gradient tolerance used by every op's finite-difference check; a
// gradient wrong by 1% of its scale in one element exceeds it.
constexpr double kGradTol = 3e-3;

// Asserts that `analytic` matches `numeric`, and that the same check rejects
// the analytic gradient once one element is pushed off by 2% of the scale:
// proof, per op, that the check can fail.
inline void ExpectGradient(const std::vector<float>& analytic, const std::vector<double>& numeric,
                           const std::string& what) {
  EXPECT_TRUE(GradientMatches(analytic, numeric, kGradTol)) << what;
  double scale = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < numeric.size(); i++) {
    if (std::fabs(numeric[i]) > scale) {
      scale = std::fabs(numeric[i]);
      at = i;
    }
  }
  ASSERT_GT(scale, 0.0) << what << ": gradient is identically zero";
  std::vector<float> wrong = analytic;
  wrong[at] += static_cast<float>(0.02 * scale);
  EXPECT_FALSE(GradientMatches(wrong, numeric, kGradTol))
      << what << ": the check did not flag a deliberately wrong gradient";
}

// sum_i w[i] * out[i] in double: the scalar whose gradient wrt out is w.
inline double Dot(const std::vector<float>& out, const std::vector<float>& w) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); i++) s += double(out[i]) * w[i];
  return s;
}

// Runs fn with the OpenMP thread count set to n, restoring it afterwards.
inline void WithThreads(int n, const std::function<void()>& fn) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(n);
  fn();
  omp_set_num_threads(saved);
}

}  // namespace ratchet::train::testing

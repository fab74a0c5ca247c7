// The joint (multivariate) TPE estimator against a hand-computed example,
// checked also with Optuna 3.1's _ParzenEstimator(multivariate=True,
// consider_prior, prior_weight 1, magic clip) on the same inputs.
#include "ratchet/propose/tpe_multivariate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace ratchet::tpe {
namespace {

// x on [0, 1] and a choice of {a, b}; observations (0.2, a) and (0.6, b).
std::vector<Dimension> XAndChoice() {
  Dimension x;
  x.low = 0;
  x.high = 1;
  Dimension c;
  c.categorical = true;
  c.n_choices = 2;
  return {x, c};
}

// Scott's rule: 0.2 × 2^(-1/(2+4)) = 0.178 of the range, below the magic
// clip range / min(100, 2 + 2) = 0.25, so both kernels get 0.25. Choice rows:
// 1/3 everywhere, +1 on the observed choice, normalised: (0.8, 0.2) and
// (0.2, 0.8); the prior is N(0.5, 1) and (0.5, 0.5); weights 1/3 each.
TEST(TpeJointEstimator, KernelsMatchTheHandComputedExample) {
  JointEstimator e = FitJoint(XAndChoice(), {{0.2, 0.0}, {0.6, 1.0}}, {1.0, 1.0});
  ASSERT_EQ(e.weights.size(), 3u);
  for (double w : e.weights) EXPECT_NEAR(w, 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(e.mus[0][0], 0.2);
  EXPECT_DOUBLE_EQ(e.mus[1][0], 0.6);
  EXPECT_DOUBLE_EQ(e.mus[2][0], 0.5);
  EXPECT_NEAR(e.sigmas[0][0], 0.25, 1e-12);
  EXPECT_NEAR(e.sigmas[1][0], 0.25, 1e-12);
  EXPECT_NEAR(e.sigmas[2][0], 1.0, 1e-12);
  EXPECT_NEAR(e.probs[0][1][0], 0.8, 1e-12);
  EXPECT_NEAR(e.probs[1][1][0], 0.2, 1e-12);
  EXPECT_NEAR(e.probs[2][1][1], 0.5, 1e-12);
}

// log sum_k w_k N_trunc(x; mu_k, s_k) (without 1/s_k, as Optuna 3.1) p_k(c),
// by hand (Python math.erfc); Optuna's log_pdf gives the same numbers.
TEST(TpeJointEstimator, LogDensityIsTheMixtureOfProductKernels) {
  JointEstimator e = FitJoint(XAndChoice(), {{0.2, 0.0}, {0.6, 1.0}}, {1.0, 1.0});
  const std::vector<bool> both = {true, true};
  EXPECT_NEAR(e.LogPdf({0.4, 0.0}, both), -1.2327658425, 1e-9);
  EXPECT_NEAR(e.LogPdf({0.0, 1.0}, both), -1.6920915497, 1e-9);
  EXPECT_NEAR(e.LogPdf({0.95, 0.0}, both), -1.7774319114, 1e-9);
  e.width_weighted = false;
  EXPECT_NEAR(e.LogPdf({0.4, 0.0}, both), -0.4344440392, 1e-9);
  // An unused dimension drops out of every component.
  e.width_weighted = true;
  EXPECT_NEAR(e.LogPdf({0.4, 1.0}, {true, false}), -0.5599673396, 1e-9);
}

// Ten observations in one dimension: Scott's 0.2 × 10^(-1/5) × 10 = 1.262
// is wider than the clip 10 / 12, so it stands.
TEST(TpeJointEstimator, ScottBandwidthStandsWhenWiderThanTheClip) {
  Dimension x;
  x.low = 0;
  x.high = 10;
  std::vector<Point> points;
  for (int i = 0; i < 10; ++i) points.push_back({static_cast<double>(i)});
  JointEstimator e = FitJoint({x}, points, std::vector<double>(10, 1.0));
  EXPECT_NEAR(e.sigmas[3][0], 1.2619146890, 1e-9);
}

// An observation without a value (an inactive parameter) takes the prior's
// kernel in that dimension.
TEST(TpeJointEstimator, AMissingValueUsesThePriorKernel) {
  JointEstimator e = FitJoint(XAndChoice(), {{0.2, std::nullopt}, {std::nullopt, 1.0}}, {1, 1});
  EXPECT_NEAR(e.probs[0][1][0], 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(e.mus[1][0], 0.5);
  EXPECT_DOUBLE_EQ(e.sigmas[1][0], 1.0);
  EXPECT_DOUBLE_EQ(e.mus[0][0], 0.2);
}

// A draw from one component keeps its values together: component 0 sits at
// (0.2, a), so its x draws stay near 0.2 and its choice is mostly a.
TEST(TpeJointEstimator, SamplesComeFromTheChosenComponent) {
  JointEstimator e = FitJoint(XAndChoice(), {{0.2, 0.0}, {0.6, 1.0}}, {1.0, 1.0});
  std::mt19937_64 rng(3);
  int a = 0;
  double sum = 0;
  for (int i = 0; i < 2000; ++i) {
    double x = e.Sample(0, 0, rng);
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
    sum += x;
    a += e.Sample(0, 1, rng) == 0.0;
  }
  EXPECT_NEAR(a / 2000.0, 0.8, 0.04);
  EXPECT_NEAR(sum / 2000.0, 0.2, 0.1);  // truncation at 0 shifts the mean up a little
}

}  // namespace
}  // namespace ratchet::tpe

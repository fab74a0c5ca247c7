// The TPE estimator against numbers computed by hand and with
// Optuna 3.1's _ParzenEstimator (consider_prior, prior_weight 1, magic clip,
// no endpoints, default_weights) on the same inputs.
#include "ratchet/propose/proposer_tpe.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace ratchet::tpe {
namespace {

TEST(TpeGamma, IsTenPercentRoundedUpAndAtMost25) {
  EXPECT_EQ(Gamma(1), 1);
  EXPECT_EQ(Gamma(10), 1);
  EXPECT_EQ(Gamma(11), 2);
  EXPECT_EQ(Gamma(100), 10);
  EXPECT_EQ(Gamma(1000), 25);
}

TEST(TpeWeights, AreFlatBelow25AndRampTheOldestAbove) {
  EXPECT_EQ(DefaultWeights(3), std::vector<double>(3, 1.0));
  std::vector<double> w = DefaultWeights(27);  // numpy: linspace(1/27, 1, 2) then 25 ones
  ASSERT_EQ(w.size(), 27u);
  EXPECT_NEAR(w[0], 1.0 / 27, 1e-12);
  EXPECT_NEAR(w[1], 1.0, 1e-12);
  EXPECT_NEAR(w[26], 1.0, 1e-12);
}

// Observations 0.2 and 0.6 on [0, 1]: with the prior's mean 0.5 the sorted
// kernels are 0.2, 0.5, 0.6 between the ends 0 and 1. Widths: 0.2 takes its
// inner gap 0.3 (endpoints not considered), 0.6 its inner gap 0.1, clipped up
// to range / min(100, 1 + 3 kernels) = 0.25. The prior is N(0.5, 1).
TEST(TpeNumericEstimator, KernelsMatchTheHandComputedExample) {
  NumericEstimator e = FitNumeric({0.2, 0.6}, {1.0, 1.0}, 0.0, 1.0);
  ASSERT_EQ(e.mus.size(), 3u);
  EXPECT_DOUBLE_EQ(e.mus[0], 0.2);
  EXPECT_DOUBLE_EQ(e.mus[1], 0.6);
  EXPECT_DOUBLE_EQ(e.mus[2], 0.5);
  EXPECT_NEAR(e.sigmas[0], 0.3, 1e-12);
  EXPECT_NEAR(e.sigmas[1], 0.25, 1e-12);
  EXPECT_NEAR(e.sigmas[2], 1.0, 1e-12);
  for (double w : e.weights) EXPECT_NEAR(w, 1.0 / 3, 1e-12);
}

// Optuna 3.1: _ParzenEstimator(...).log_pdf({"x": [0.4, 0.0, 0.95]}) on the
// same observations (its _truncnorm.logpdf leaves out -log(sigma)).
TEST(TpeNumericEstimator, WidthWeightedLogDensityMatchesOptuna) {
  NumericEstimator e = FitNumeric({0.2, 0.6}, {1.0, 1.0}, 0.0, 1.0);
  ASSERT_TRUE(e.width_weighted);
  EXPECT_NEAR(e.LogPdf(0.4), -0.52461299, 1e-7);
  EXPECT_NEAR(e.LogPdf(0.0), -0.78171391, 1e-7);
  EXPECT_NEAR(e.LogPdf(0.95), -0.98094306, 1e-7);
}

// log( sum_k w_k phi((x - mu_k) / s_k) / (s_k (Phi((1 - mu_k) / s_k) - Phi(-mu_k / s_k))) ),
// evaluated by hand (Python math.erfc) for the kernels above.
TEST(TpeNumericEstimator, NormalizedLogDensityMatchesTheTruncatedNormalMixture) {
  NumericEstimator e = FitNumeric({0.2, 0.6}, {1.0, 1.0}, 0.0, 1.0);
  e.width_weighted = false;
  EXPECT_NEAR(e.LogPdf(0.4), 0.21111027381617, 1e-9);
  EXPECT_NEAR(e.LogPdf(0.0), -0.20381013998527, 1e-9);
  EXPECT_NEAR(e.LogPdf(0.95), -0.59224656521094, 1e-9);
}

TEST(TpeNumericEstimator, DensityIntegratesToOneOverTheRange) {
  NumericEstimator e = FitNumeric({1.0, 1.5, 7.0, 9.9}, {1, 1, 1, 1}, 0.0, 10.0);
  e.width_weighted = false;
  double integral = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) integral += std::exp(e.LogPdf((i + 0.5) * 10.0 / n)) * 10.0 / n;
  EXPECT_NEAR(integral, 1.0, 1e-3);
}

TEST(TpeNumericEstimator, WithoutObservationsIsThePriorAlone) {
  NumericEstimator e = FitNumeric({}, {}, -1.0, 1.0);
  ASSERT_EQ(e.mus.size(), 1u);
  EXPECT_DOUBLE_EQ(e.mus[0], 0.0);
  EXPECT_DOUBLE_EQ(e.sigmas[0], 2.0);
  EXPECT_DOUBLE_EQ(e.weights[0], 1.0);
}

TEST(TpeNumericEstimator, SamplesStayInsideTheRangeAndFollowTheKernels) {
  NumericEstimator e =
      FitNumeric(std::vector<double>(30, 0.9), std::vector<double>(30, 1.0), 0.0, 1.0);
  std::mt19937_64 rng(7);
  int near = 0;
  for (int i = 0; i < 1000; ++i) {
    double x = e.Sample(rng);
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
    near += std::fabs(x - 0.9) < 0.1;
  }
  EXPECT_GT(near, 700);  // 30 of 31 kernels sit at 0.9 with width 1/32
}

// Observations a, a, c of {a, b, c}: kernels put 1 + 1/4 on their choice and
// 1/4 elsewhere (rows normalised), the prior is uniform, all weighted 1/4.
TEST(TpeCategoricalEstimator, ProbabilitiesMatchOptuna) {
  CategoricalEstimator e = FitCategorical({0, 0, 2}, {1, 1, 1}, 3);
  ASSERT_EQ(e.probs.size(), 3u);
  EXPECT_NEAR(e.probs[0], 0.47619048, 1e-7);
  EXPECT_NEAR(e.probs[1], 0.19047619, 1e-7);
  EXPECT_NEAR(e.probs[2], 0.33333333, 1e-7);
  EXPECT_NEAR(e.LogPmf(1), std::log(0.19047619), 1e-6);
}

TEST(TpeCategoricalEstimator, WeightsFavourHeavierObservations) {
  CategoricalEstimator e = FitCategorical({0, 1}, {0.1, 1.0}, 2);
  EXPECT_GT(e.probs[1], e.probs[0]);
}

}  // namespace
}  // namespace ratchet::tpe

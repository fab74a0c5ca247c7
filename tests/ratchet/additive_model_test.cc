// The additive proposer's surrogate: features, Cholesky, the posterior's
// mean and spread on cases small enough to work out by hand.
#include "ratchet/propose/additive_model.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ratchet::additive {
namespace {

using nlohmann::json;

SearchSpace Space() {
  SearchSpace s;
  Param lr;
  lr.name = "lr";
  lr.min = 1e-4;
  lr.max = 1e-2;
  lr.log = true;
  Param opt;
  opt.name = "opt";
  opt.type = Param::Type::kChoice;
  opt.values = {"adamw", "muon", "sgd"};
  Param mom;
  mom.name = "mom";
  mom.min = 0.8;
  mom.max = 1.0;
  mom.when["opt"] = {"muon"};
  Param tied;
  tied.name = "tied";
  tied.type = Param::Type::kBool;
  s.params = {lr, opt, mom, tied};
  return s;
}

TEST(AdditiveModelTest, FeaturesAreIndicatorsAndCentredSquares) {
  const SearchSpace space = Space();
  EXPECT_EQ(FeatureCount(space), 2u + 3u + 3u + 2u);
  // lr 1e-3 is the middle of its log range: z = 0. mom 0.95: z = 0.25.
  std::vector<double> x =
      Features(space, json{{"lr", 1e-3}, {"opt", "muon"}, {"mom", 0.95}, {"tied", true}});
  std::vector<double> want = {0, 0, 0, 1, 0, 0.25, 0.0625, 0, 0, 1};
  ASSERT_EQ(x.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(x[i], want[i], 1e-12) << i;
  // Under adamw mom is inactive: its numbers are 0 and its inactive flag 1.
  x = Features(space, json{{"lr", 1e-2}, {"opt", "adamw"}, {"mom", 0.95}, {"tied", false}});
  want = {0.5, 0.25, 1, 0, 0, 0, 0, 1, 1, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(x[i], want[i], 1e-12) << i;
}

TEST(AdditiveModelTest, CholeskyFactorsASymmetricPositiveDefiniteMatrix) {
  const std::vector<double> a = {4, 12, -16, 12, 37, -43, -16, -43, 98};
  const std::vector<double> l = Cholesky(a, 3);
  const std::vector<double> want = {2, 0, 0, 6, 1, 0, -8, 5, 3};
  for (size_t i = 0; i < 9; ++i) EXPECT_NEAR(l[i], want[i], 1e-12) << i;
}

// Noise-free additive data and a negligible prior: the posterior mean is the
// least-squares fit, which predicts the data's function everywhere, and the
// noise estimate is ~0.
TEST(AdditiveModelTest, FitRecoversAnAdditiveFunction) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  auto f = [](const std::vector<double>& r) { return 3.0 + 1.5 * r[0] - 2.0 * r[1] + 0.25 * r[2]; };
  std::vector<std::vector<double>> rows;
  std::vector<double> y;
  for (int i = 0; i < 20; ++i) {
    rows.push_back({u(rng), u(rng), u(rng)});
    y.push_back(f(rows.back()));
  }
  const Posterior post = Fit(rows, y, 1e-9);
  EXPECT_LT(post.noise, 1e-5);
  for (const std::vector<double>& x :
       std::vector<std::vector<double>>{{0, 0, 0}, {1, 1, 1}, {-1, 0.5, 0.25}, {0.3, -0.7, 0.9}}) {
    EXPECT_NEAR(post.Predict(post.mean, x), f(x), 1e-6);
  }
}

// One feature, x = -1, 0, 1 (standardised: ±√(3/2), 0) and y = 0, 1, 5: with
// ridge 1, A = 3 + 1 = 4 and the mean weight 5·√(3/2) / 4, a slope of 15/8
// per unit of x; residuals of 2 + 15/8·x are -1/8, -1, 9/8, so noise² =
// (1/64 + 1 + 81/64) / 2 = 73/64, and the draws spread as noise² / A = 73/256.
TEST(AdditiveModelTest, DrawsFollowThePosterior) {
  const Posterior post = Fit({{-1}, {0}, {1}}, {0, 1, 5}, 1.0);
  const double mean_w = 5 * std::sqrt(1.5) / 4;
  EXPECT_NEAR(post.mean[0], mean_w, 1e-12);
  EXPECT_NEAR(post.Predict(post.mean, {1}) - post.Predict(post.mean, {0}), 15.0 / 8, 1e-12);
  EXPECT_NEAR(post.noise * post.noise, 73.0 / 64, 1e-12);
  std::mt19937_64 rng(1);
  const int n = 200000;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double w = post.Draw(rng)[0];
    sum += w;
    sum2 += w * w;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, mean_w, 0.01);
  EXPECT_NEAR(var, 73.0 / 256, 0.01);
}

// Only the order of the losses counts: ranks 0..3 of 4 sit at the normal
// quantiles of 1/8, 3/8, 5/8, 7/8 (±1.1503, ±0.3186); ties share the lower.
TEST(AdditiveModelTest, NormalScoresKeepOnlyTheOrder) {
  const std::vector<double> s = NormalScores({10.0, -3.0, 1e6, 0.5});
  EXPECT_NEAR(s[1], -1.150349, 1e-6);
  EXPECT_NEAR(s[3], -0.318639, 1e-6);
  EXPECT_NEAR(s[0], 0.318639, 1e-6);
  EXPECT_NEAR(s[2], 1.150349, 1e-6);
  const std::vector<double> t = NormalScores({2.0, 1.0, 2.0});
  EXPECT_EQ(t[0], t[2]);
  EXPECT_NEAR(t[0], 0.0, 1e-12);  // rank 1 of 3: the median
}

}  // namespace
}  // namespace ratchet::additive

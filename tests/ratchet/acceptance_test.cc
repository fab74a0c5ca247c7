#include "ratchet/acceptance.h"

#include <gtest/gtest.h>

#include <random>

namespace ratchet {
namespace {

using Kind = Verdict::Kind;

AcceptanceRule Rule(Policy policy, Goal goal = Goal::kMinimize, double min_delta = 0.0) {
  AcceptanceRule rule;
  rule.policy = policy;
  rule.goal = goal;
  rule.min_delta = min_delta;
  return rule;
}

TEST(StudentT, QuantilesMatchPublishedTables) {
  // One-sided critical values from standard t tables.
  EXPECT_NEAR(StudentTUpperQuantile(0.05, 1), 6.314, 1e-3);
  EXPECT_NEAR(StudentTUpperQuantile(0.01, 2), 6.965, 1e-3);
  EXPECT_NEAR(StudentTUpperQuantile(0.01, 10), 2.764, 1e-3);
  EXPECT_NEAR(StudentTUpperQuantile(0.025, 30), 2.042, 1e-3);
  EXPECT_NEAR(StudentTUpperQuantile(0.01, 1e6), 2.326, 1e-3);
}

TEST(PooledNoise, PoolsSquaredDeviationsOverGroupDegreesOfFreedom) {
  // Group 1: mean 2, squares 2; group 2: mean 10, squares 8; singletons ignored.
  Noise noise = PooledNoise({{1, 3}, {8, 10, 12}, {100}});
  EXPECT_EQ(noise.dof, 3);
  EXPECT_NEAR(noise.sd, std::sqrt(10.0 / 3.0), 1e-12);
}

TEST(PooledNoise, IsZeroWithoutRepeats) {
  Noise noise = PooledNoise({{1}, {2}});
  EXPECT_EQ(noise.dof, 0);
  EXPECT_EQ(noise.sd, 0.0);
}

TEST(StrictPolicy, AcceptsAnyImprovementInTheGoalsDirection) {
  EXPECT_EQ(DecideFirst(Rule(Policy::kStrict), {1.0}, 0.999).kind, Kind::kAccept);
  EXPECT_EQ(DecideFirst(Rule(Policy::kStrict), {1.0}, 1.0).kind, Kind::kReject);
  EXPECT_EQ(DecideFirst(Rule(Policy::kStrict, Goal::kMaximize), {1.0}, 0.999).kind,
            Kind::kReject);
  EXPECT_EQ(DecideFirst(Rule(Policy::kStrict, Goal::kMaximize), {1.0}, 1.5).kind, Kind::kAccept);
}

TEST(ThresholdPolicy, RejectsImprovementsBelowMinDelta) {
  Verdict small = DecideFirst(Rule(Policy::kThreshold, Goal::kMinimize, 0.1), {1.0}, 0.95);
  EXPECT_EQ(small.kind, Kind::kReject);
  EXPECT_NE(small.reason.find("below min_delta"), std::string::npos);
  EXPECT_EQ(DecideFirst(Rule(Policy::kThreshold, Goal::kMinimize, 0.1), {1.0}, 0.85).kind,
            Kind::kAccept);
}

TEST(ConfirmPolicy, AsksForFreshMeasurementsWhenTheFirstLooksBetter) {
  EXPECT_EQ(DecideFirst(Rule(Policy::kConfirm), {1.0, 1.02}, 0.9).kind, Kind::kMeasureMore);
  EXPECT_EQ(DecideFirst(Rule(Policy::kConfirm), {1.0, 1.02}, 1.2).kind, Kind::kReject);
}

TEST(ConfirmPolicy, AcceptsAnImprovementFarBeyondTheNoise) {
  Noise noise{0.01, 4};
  Verdict verdict = DecideConfirm(Rule(Policy::kConfirm), {1.00, 1.01}, {0.80, 0.81}, noise, 1);
  EXPECT_EQ(verdict.kind, Kind::kAccept);
  EXPECT_GT(verdict.numbers["t"].get<double>(), verdict.numbers["t_crit"].get<double>());
}

TEST(ConfirmPolicy, RejectsAnImprovementWithinTheNoise) {
  Noise noise{0.05, 4};
  Verdict verdict = DecideConfirm(Rule(Policy::kConfirm), {1.00, 1.01}, {0.99, 0.98}, noise, 1);
  EXPECT_EQ(verdict.kind, Kind::kReject);
  EXPECT_NE(verdict.reason.find("within the noise"), std::string::npos);
}

TEST(ConfirmPolicy, CannotConfirmWithoutANoiseEstimate) {
  Verdict verdict = DecideConfirm(Rule(Policy::kConfirm), {1.0}, {0.5}, Noise{0.0, 0}, 1);
  EXPECT_EQ(verdict.kind, Kind::kReject);
  EXPECT_NE(verdict.reason.find("no noise estimate"), std::string::npos);
}

TEST(ConfirmPolicy, RemeasuresAnImprovementBeyondTheSanityBound) {
  AcceptanceRule rule = Rule(Policy::kConfirm);
  rule.max_improvement = 0.1;
  Noise noise{0.01, 4};
  EXPECT_EQ(DecideConfirm(rule, {1.0, 1.0}, {0.5, 0.5}, noise, 1).kind, Kind::kMeasureMore);
  EXPECT_EQ(DecideConfirm(rule, {1.0, 1.0}, {0.5, 0.5, 0.5, 0.5}, noise, 2).kind, Kind::kAccept);
}

TEST(ConfirmPolicy, HonoursMaximizeGoal) {
  Noise noise{0.01, 4};
  EXPECT_EQ(DecideConfirm(Rule(Policy::kConfirm, Goal::kMaximize), {10.0}, {11.0, 11.0}, noise, 1)
                .kind,
            Kind::kAccept);
  EXPECT_EQ(DecideConfirm(Rule(Policy::kConfirm, Goal::kMaximize), {10.0}, {9.0, 9.0}, noise, 1)
                .kind,
            Kind::kReject);
}

// An A/A simulation: candidates identical to the best in distribution. The
// confirm rule must rarely accept, while strict accepts about half of them.
TEST(ConfirmPolicy, RarelyAcceptsPureNoise) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise_draw(1.0, 0.02);
  auto draw = [&](int n) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(noise_draw(rng));
    return v;
  };
  std::vector<double> best = draw(3);
  std::vector<std::vector<double>> groups = {best};
  int strict_accepts = 0;
  int confirm_accepts = 0;
  const int kTrials = 2000;
  for (int i = 0; i < kTrials; ++i) {
    double first = draw(1)[0];
    if (DecideFirst(Rule(Policy::kStrict), best, first).kind == Kind::kAccept) ++strict_accepts;
    if (DecideFirst(Rule(Policy::kConfirm), best, first).kind != Kind::kMeasureMore) continue;
    std::vector<double> fresh = draw(2);
    groups.push_back(fresh);
    Verdict verdict = DecideConfirm(Rule(Policy::kConfirm), best, fresh, PooledNoise(groups), 1);
    if (verdict.kind == Kind::kAccept) ++confirm_accepts;
  }
  EXPECT_GT(strict_accepts, kTrials / 4);
  EXPECT_LT(confirm_accepts, kTrials / 50);  // well under 2%
}

}  // namespace
}  // namespace ratchet

// Tests of the test helpers themselves and of the vectorized math functions
// the kernels rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/ops_math.h"

namespace ratchet::train {
namespace {

using testing::ExpectGradient;
using testing::GradientMatches;
using testing::kGradTol;
using testing::NumericalGradient;

TEST(OpsTestHelpers, GradientCheckAcceptsTheTrueGradientOfACubic) {
  std::vector<float> x = {0.5f, -1.25f, 2.0f};
  auto loss = [&] {
    double s = 0;
    for (float v : x) s += double(v) * v * v;
    return s;
  };
  const std::vector<double> numeric = NumericalGradient(x, loss);
  std::vector<float> analytic;
  for (float v : x) analytic.push_back(3 * v * v);
  EXPECT_TRUE(GradientMatches(analytic, numeric, kGradTol));
}

TEST(OpsTestHelpers, GradientCheckFlagsADeliberatelyWrongGradient) {
  std::vector<float> x = {0.5f, -1.25f, 2.0f};
  auto loss = [&] {
    double s = 0;
    for (float v : x) s += double(v) * v * v;
    return s;
  };
  const std::vector<double> numeric = NumericalGradient(x, loss);
  // 2x² instead of 3x²: the classic dropped-factor mistake.
  std::vector<float> wrong;
  for (float v : x) wrong.push_back(2 * v * v);
  EXPECT_FALSE(GradientMatches(wrong, numeric, kGradTol));
  // A 1% error in a single element is also caught.
  std::vector<float> slightly_wrong;
  for (float v : x) slightly_wrong.push_back(3 * v * v);
  slightly_wrong[2] *= 1.01f;
  EXPECT_FALSE(GradientMatches(slightly_wrong, numeric, kGradTol));
  ExpectGradient({0.75f, 4.6875f, 12.0f}, numeric, "cubic");
}

TEST(OpsTestHelpers, AllCloseReportsNaNAsAMismatch) {
  EXPECT_FALSE(testing::AllClose({NAN}, {1.0f}, 1e-3, 1e-3));
  EXPECT_TRUE(testing::AllClose({1.0f}, {1.0005f}, 1e-3, 0));
}

TEST(OpsFastMath, FastExpIsWithinAFewUlpOfExpFromMinus80To88) {
  double worst = 0;
  for (int i = 0; i <= 200000; i++) {
    const float x = -80.0f + 168.0f * i / 200000;
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(internal::FastExp(x) - want) / want);
  }
  EXPECT_LT(worst, 5e-7);
}

TEST(OpsFastMath, FastExpFlushesToZeroBelowMinus80AndNeverOverflows) {
  EXPECT_EQ(internal::FastExp(-80.5f), 0.0f);
  EXPECT_EQ(internal::FastExp(-1e30f), 0.0f);
  EXPECT_TRUE(std::isfinite(internal::FastExp(1000.0f)));
  EXPECT_TRUE(std::isnan(internal::FastExp(NAN)));
}

TEST(OpsFastMath, FastTanhIsWithinAFewUlpOfTanhAndSaturates) {
  double worst_rel = 0;
  for (int i = 0; i <= 200000; i++) {
    const float x = -12.0f + 24.0f * i / 200000;
    const double want = std::tanh(double(x));
    if (want == 0) continue;
    worst_rel = std::max(worst_rel, std::fabs(internal::FastTanh(x) - want) / std::fabs(want));
  }
  EXPECT_LT(worst_rel, 1e-6);
  EXPECT_FLOAT_EQ(internal::FastTanh(50.0f), 1.0f);
  EXPECT_FLOAT_EQ(internal::FastTanh(-50.0f), -1.0f);
  EXPECT_FLOAT_EQ(internal::FastTanh(1e-6f), 1e-6f);
}

}  // namespace
}  // namespace ratchet::train

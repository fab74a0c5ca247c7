#include "trainer/schedule.h"

#include <gtest/gtest.h>

#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

Config With(const char* schedule, double warmup, double cooldown, double min_frac = 0.0) {
  return testing::TinyConfig({{"schedule", schedule},
                              {"warmup_frac", warmup},
                              {"cooldown_frac", cooldown},
                              {"min_lr_frac", min_frac}});
}

TEST(ScheduleTest, WarmupIsLinearWithAOnePercentFloor) {
  Config c = With("constant", 0.1, 0.0);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.0), 0.01);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.05), 0.5);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.1), 1.0);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.9), 1.0);
}

TEST(ScheduleTest, CosineAndLinearDecayFromWarmupEndToMinimum) {
  Config cos = With("cosine", 0.2, 0.0, 0.1);
  EXPECT_DOUBLE_EQ(LrMultiplier(cos, 0.2), 1.0);
  EXPECT_NEAR(LrMultiplier(cos, 0.6), 0.55, 1e-12);  // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(LrMultiplier(cos, 1.0), 0.1, 1e-12);
  Config lin = With("linear", 0.0, 0.0);
  EXPECT_NEAR(LrMultiplier(lin, 0.25), 0.75, 1e-12);
  EXPECT_NEAR(LrMultiplier(lin, 1.0), 0.0, 1e-12);
}

TEST(ScheduleTest, WsdIsStableUntilTheCooldownThenLinear) {
  Config c = With("wsd", 0.1, 0.4);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.3), 1.0);
  EXPECT_DOUBLE_EQ(LrMultiplier(c, 0.6), 1.0);
  EXPECT_NEAR(LrMultiplier(c, 0.8), 0.5, 1e-12);
  EXPECT_NEAR(LrMultiplier(c, 1.0), 0.0, 1e-12);
}

TEST(ScheduleTest, ProgressIsClampedToTheBudget) {
  Config c = With("linear", 0.0, 0.0, 0.2);
  EXPECT_NEAR(LrMultiplier(c, 1.7), 0.2, 1e-12);
  EXPECT_NEAR(LrMultiplier(c, -1.0), 1.0, 1e-12);
}

}  // namespace
}  // namespace ratchet::train

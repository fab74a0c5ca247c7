#include "harness/kbench_timing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "trainer/blas_core.h"

namespace ratchet::kbench {
namespace {

TEST(KbenchTiming, SummaryHasTheMedianAndTheRelativeInterquartileRange) {
  const Stats s = Summarize({4, 1, 3, 2, 5});
  EXPECT_EQ(s.samples, 5);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.spread, (4 - 2) / 3.0);
}

TEST(KbenchTiming, SamplingStopsAfterTheMinimumCountAndTime) {
  TimingOptions options;
  options.warmup_seconds = 0;
  options.min_samples = 7;
  options.min_seconds = 0;
  int calls = 0, flushes = 0;
  options.flush_caches = true;
  const std::vector<double> samples = Sample([&] { ++calls; }, [&] { ++flushes; }, options);
  EXPECT_EQ(samples.size(), 7u);
  EXPECT_EQ(calls, 8);  // One warm-up call.
  EXPECT_EQ(flushes, 7);
}

TEST(KbenchTiming, ASlowCallIsSampledOnlyTwiceAfterTheTimeCap) {
  TimingOptions options;
  options.warmup_seconds = 0;
  options.min_samples = 50;
  options.max_seconds = 0.01;
  const std::vector<double> samples = Sample([] { usleep(20000); }, {}, options);
  EXPECT_EQ(samples.size(), 2u);
}

TEST(KbenchTiming, CpuTimeLeavesOutTheTimeACallSpendsOffTheCpu) {
  TimingOptions options;
  options.warmup_seconds = 0;
  options.min_samples = 3;
  options.min_seconds = 0;
  std::vector<double> cpu;
  const std::vector<double> wall = Sample([] { usleep(20000); }, {}, options, &cpu);
  ASSERT_EQ(cpu.size(), wall.size());
  for (size_t i = 0; i < wall.size(); ++i) {
    EXPECT_GE(wall[i], 0.02);
    EXPECT_LT(cpu[i], 0.01);  // Asleep: descheduled, like a kernel on a busy machine.
  }
}

TEST(KbenchTiming, CpuTimeCountsTheWorkOfACall) {
  TimingOptions options;
  options.warmup_seconds = 0;
  options.min_samples = 2;
  options.min_seconds = 0;
  std::vector<double> cpu;
  Sample(
      [] {
        const double until = ProcessCpuSeconds() + 0.02;
        while (ProcessCpuSeconds() < until) {
        }
      },
      {}, options, &cpu);
  ASSERT_EQ(cpu.size(), 2u);
  for (double c : cpu) EXPECT_GE(c, 0.02);
}

// The OpenBLAS reference runs a kernel fit for this CPU, never a pre-AVX2
// fallback; a user's choice is kept as it is.
TEST(KbenchBlasCore, IsFitForThisCpuAndKeepsTheUsersChoice) {
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before ? before : "";
  unsetenv("OPENBLAS_CORETYPE");
  const std::string core = PrepareBlasCore(30);
  ASSERT_FALSE(core.empty());
  EXPECT_STREQ(train::BetterBlasCoreHere(core.c_str()), "") << core;
  setenv("OPENBLAS_CORETYPE", "Haswell", 1);
  EXPECT_EQ(PrepareBlasCore(30), "Haswell");
  if (before) {
    setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  } else {
    unsetenv("OPENBLAS_CORETYPE");
  }
}

}  // namespace
}  // namespace ratchet::kbench

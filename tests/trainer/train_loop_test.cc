#include "trainer/train_loop.h"

#include <cmath>
#include <limits>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "trainer/budget.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

using ::testing::HasSubstr;

struct TrainRun {
  TrainSummary summary;
  std::string log;
};

TrainRun Train(const Config& c, const Budget& budget, uint64_t seed, const std::string& data_path,
          int log_every = 1) {
  DataLoader data(data_path, c.seq_len, seed);
  Model model(c, c.batch_size, c.seq_len, true);
  model.InitParams(seed);
  Optimizer opt(c, model.tensors());
  std::ostringstream log;
  TrainRun run{TrainLoop(model, opt, data, budget, log_every, false, log), ""};
  run.log = log.str();
  return run;
}

class TrainLoopTest : public ::testing::Test {
 protected:
  TrainLoopTest() {
    data_ = (dir_.path() / "train.bin").string();
    testing::WriteText(data_, testing::SampleText());
  }
  testing::TempDir dir_;
  std::string data_;
};

TEST_F(TrainLoopTest, TokenBudgetIsConsumedInWholeStepsAndCountedExactly) {
  Config c = testing::TinyConfig({{"grad_accum", 2}});  // 2 * 8 * 2 = 32 tokens per step
  TrainRun run = Train(c, {Budget::Kind::kTokens, 0, 1000}, 1, data_);
  EXPECT_EQ(run.summary.steps, 31);  // floor(1000 / 32)
  EXPECT_EQ(run.summary.tokens, 31 * 32);
  EXPECT_LE(run.summary.tokens, 1000);
  EXPECT_EQ(run.summary.losses.size(), 31u);
  // One progress line per step (log_every 1), the last one for step 31.
  EXPECT_EQ(std::count(run.log.begin(), run.log.end(), '\n'), 31);
  EXPECT_THAT(run.log, HasSubstr("{\"step\":31,\"tokens\":992,"));
}

TEST_F(TrainLoopTest, TokenBudgetBelowOneStepIsAnError) {
  Config c = testing::TinyConfig();
  EXPECT_THAT([&] { Train(c, {Budget::Kind::kTokens, 0, 15}, 1, data_); },
              ::testing::ThrowsMessage<Error>(HasSubstr("smaller than one step of 16 tokens")));
}

TEST_F(TrainLoopTest, TimeBudgetStopsWithinASmallMargin) {
  Config c = testing::TinyConfig();
  TrainRun run = Train(c, {Budget::Kind::kTime, 0.5, 0}, 1, data_, 0);
  EXPECT_GE(run.summary.seconds, 0.5);
  EXPECT_LT(run.summary.seconds, 0.5 + 0.2);
  EXPECT_GT(run.summary.steps, 10);
  EXPECT_EQ(run.summary.tokens, run.summary.steps * 16);
}

TEST_F(TrainLoopTest, SameSeedGivesIdenticalLossesAndAnotherSeedDoesNot) {
  SetThreads(2);  // determinism must hold with several threads too
  Config c = testing::TinyConfig({{"pos", "rope"}, {"optimizer", "muon"}});
  Budget budget{Budget::Kind::kTokens, 0, 16 * 40};
  TrainRun a = Train(c, budget, 42, data_), b = Train(c, budget, 42, data_),
      d = Train(c, budget, 43, data_);
  ASSERT_EQ(a.summary.losses.size(), 40u);
  EXPECT_EQ(a.summary.losses, b.summary.losses);
  EXPECT_NE(a.summary.losses, d.summary.losses);
  SetThreads(1);
}

TEST_F(TrainLoopTest, LossFallsOnRepetitiveText) {
  Config c = testing::TinyConfig({{"lr", 3e-3}, {"n_embd", 32}, {"seq_len", 16}});
  TrainRun run = Train(c, {Budget::Kind::kTokens, 0, 32 * 300}, 1, data_, 0);
  EXPECT_LT(run.summary.train_loss, 0.6 * run.summary.losses.front());
}

TEST_F(TrainLoopTest, NanLossStopsWithAMessageNamingTheStep) {
  Config c = testing::TinyConfig();
  DataLoader data(data_, c.seq_len, 1);
  Model model(c, c.batch_size, c.seq_len, true);
  model.InitParams(1);
  model.param("lnf.g")[0] = std::numeric_limits<float>::quiet_NaN();
  Optimizer opt(c, model.tensors());
  std::ostringstream log;
  EXPECT_THAT([&] { TrainLoop(model, opt, data, {Budget::Kind::kTokens, 0, 160}, 1, false, log); },
              ::testing::ThrowsMessage<Error>(::testing::StrEq("loss is nan at step 1")));
}

TEST_F(TrainLoopTest, DataShorterThanOneWindowIsNamed) {
  const std::string small = (dir_.path() / "small.bin").string();
  testing::WriteText(small, "abc");
  EXPECT_THAT([&] { DataLoader(small, 8, 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr(small + ": holds 3 bytes")));
}

TEST_F(TrainLoopTest, BatchesAreContiguousWindowsShiftedByOne) {
  DataLoader data(data_, 8, 5);
  uint8_t in[3 * 8], tg[3 * 8];
  data.NextBatch(in, tg, 3, 8);
  const std::string all = testing::SampleText();
  for (int b = 0; b < 3; ++b) {
    std::string window(reinterpret_cast<char*>(in + b * 8), 8);
    size_t at = all.find(window);
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(static_cast<char>(tg[b * 8 + 7]), all[at + 8]);
    for (int t = 0; t < 7; ++t) EXPECT_EQ(tg[b * 8 + t], in[b * 8 + t + 1]);
  }
}

TEST(BudgetTest, ProgressIsTheShareOfTimeOrTokens) {
  BudgetTracker time({Budget::Kind::kTime, 10.0, 0}, 16);
  EXPECT_DOUBLE_EQ(time.Progress(2.5, 999), 0.25);
  EXPECT_TRUE(time.ShouldContinue(9.99, 0));
  EXPECT_FALSE(time.ShouldContinue(10.0, 0));
  BudgetTracker tokens({Budget::Kind::kTokens, 0, 100}, 16);  // 6 steps = 96 tokens
  EXPECT_EQ(tokens.max_steps(), 6);
  EXPECT_DOUBLE_EQ(tokens.Progress(123.0, 48), 0.5);
  EXPECT_TRUE(tokens.ShouldContinue(0, 80));
  EXPECT_FALSE(tokens.ShouldContinue(0, 96));
  EXPECT_THROW(BudgetTracker({Budget::Kind::kTime, 0.0, 0}, 16), Error);
}

}  // namespace
}  // namespace ratchet::train

#include "ratchet/loop/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "e2e_util.h"

namespace ratchet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A Progress writing into a temp file, on a clock the test moves.
class ProgressTest : public ::testing::Test {
 protected:
  std::unique_ptr<Progress> Make(bool live) {
    out_ = std::tmpfile();
    return std::make_unique<Progress>(out_, live, [this] { return now_; });
  }
  ~ProgressTest() override {
    if (out_) std::fclose(out_);
  }
  std::string Output() {
    std::fflush(out_);
    std::rewind(out_);
    std::string text;
    for (int c; (c = std::fgetc(out_)) != EOF;) text.push_back(static_cast<char>(c));
    std::fseek(out_, 0, SEEK_END);
    return text;
  }
  void Train(int64_t tokens, double loss, double rate) {
    std::ofstream(log_, std::ios::app)
        << "{\"step\":1,\"tokens\":" << tokens << ",\"loss\":" << loss
        << ",\"tokens_per_s\":" << rate << "}\n";
  }
  void Advance(double seconds) { now_ += seconds; }

  testing::TempDir dir_;
  std::filesystem::path log_ = dir_.path() / "train.out";
  std::FILE* out_ = nullptr;
  double now_ = 1000;
};

TEST_F(ProgressTest, LiveLineFollowsTheTrainingLossRateAndEta) {
  auto progress = Make(/*live=*/true);
  progress->Phase(3, "train", 3.64, PhaseBudget{15, 0}, log_);
  Advance(6);
  Train(60000, 3.412, 11500);
  progress->Tick();
  std::string out = Output();
  EXPECT_THAT(out, HasSubstr("[3] train"));
  EXPECT_THAT(out, HasSubstr("6.0s / 15s  loss 3.412  11.5k tok/s  eta 9s  best 3.64"));
}

TEST_F(ProgressTest, EtaCountsTokensLeftAndTheLastEvaluationsLength) {
  auto progress = Make(/*live=*/true);
  progress->Phase(1, "evaluate", std::nullopt);
  Advance(4);  // the evaluation took 4 s
  progress->Phase(1, "confirm 1/2 train", std::nullopt, PhaseBudget{0, 100000}, log_);
  Advance(2);
  Train(40000, 2.5, 20000);  // 60000 tokens left at 20000 tok/s: 3 s, then 4 s of evaluation
  progress->Tick();
  EXPECT_THAT(Output(), HasSubstr("40.0k / 100.0k tok  loss 2.5  20.0k tok/s  eta 7s  best -"));
}

TEST_F(ProgressTest, PlainOutputPrintsOneLineAtEachQuarterOfTheBudget) {
  auto progress = Make(/*live=*/false);
  progress->Phase(2, "train", std::nullopt, PhaseBudget{20, 0}, log_);
  for (int second = 1; second <= 25; ++second) {  // past the budget: no line for 100%
    Advance(1);
    Train(second * 1000, 5.0 - second * 0.1, 1000);
    progress->Tick();
    progress->Tick();  // a second tick at the same moment changes nothing
  }
  std::string out = Output();
  EXPECT_THAT(out, Not(HasSubstr("\r")));
  EXPECT_THAT(out, HasSubstr("[2] train\n"));
  EXPECT_THAT(out, HasSubstr("[2] train    5.0s / 20s  loss 4.5  1000 tok/s  eta 15s\n"));
  EXPECT_THAT(out, HasSubstr("[2] train   10.0s / 20s  loss 4  1000 tok/s  eta 10s\n"));
  EXPECT_THAT(out, HasSubstr("[2] train   15.0s / 20s  loss 3.5  1000 tok/s  eta 5s\n"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4);
}

TEST_F(ProgressTest, WithoutTrainingLinesOnlyTimeIsShown) {
  auto progress = Make(/*live=*/true);
  progress->Phase(4, "evaluate", 1.5);
  Advance(2.5);
  progress->Tick();
  std::string out = Output();
  EXPECT_THAT(out, HasSubstr("[4] evaluate          2.5s  best 1.5"));
  EXPECT_THAT(out, Not(HasSubstr("loss")));
}

}  // namespace
}  // namespace ratchet

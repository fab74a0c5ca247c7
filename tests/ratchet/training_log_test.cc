#include "ratchet/runner/training_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "e2e_util.h"

namespace ratchet {
namespace {

TEST(ParseTrainingLine, ReadsRatchetTrainsProgressLine) {
  auto point = ParseTrainingLine(
      R"({"step":40,"tokens":81920,"loss":3.412,"lr":0.003,"tokens_per_s":11500.5,"elapsed":7.1})");
  ASSERT_TRUE(point);
  EXPECT_DOUBLE_EQ(point->loss, 3.412);
  EXPECT_EQ(point->step, 40);
  EXPECT_EQ(point->tokens, 81920);
  EXPECT_DOUBLE_EQ(*point->tokens_per_s, 11500.5);
  EXPECT_DOUBLE_EQ(*point->elapsed, 7.1);
}

TEST(ParseTrainingLine, TakesAnyTrainersLossLineAndSkipsTheRest) {
  auto minimal = ParseTrainingLine("{\"loss\": 2.5}\r");
  ASSERT_TRUE(minimal);
  EXPECT_DOUBLE_EQ(minimal->loss, 2.5);
  EXPECT_FALSE(minimal->tokens);
  EXPECT_FALSE(ParseTrainingLine(R"({"summary":true,"steps":40,"tokens":81920})"));
  EXPECT_FALSE(ParseTrainingLine(R"({"loss":"nan"})"));
  EXPECT_FALSE(ParseTrainingLine("step 40 loss 3.4"));
  EXPECT_FALSE(ParseTrainingLine(R"({"loss":3.4,"step":)"));  // cut off mid-line
  EXPECT_FALSE(ParseTrainingLine(""));
}

class TrainingLogFile : public ::testing::Test {
 protected:
  void Write(int lines, const std::string& after = "") {
    std::ofstream out(path_);
    out << "ratchet-train: config ok\n";
    for (int i = 1; i <= lines; ++i) {
      out << "{\"step\":" << i << ",\"tokens\":" << i * 100 << ",\"loss\":" << 5.0 - i * 0.001
          << ",\"tokens_per_s\":1000,\"elapsed\":" << i * 0.1 << "}\n";
    }
    out << after;
  }
  testing::TempDir dir_;
  std::filesystem::path path_ = dir_.path() / "train.out";
};

TEST_F(TrainingLogFile, CurveKeepsEveryPointInOrder) {
  Write(5, "{\"summary\":true}\n");
  std::vector<TrainingPoint> curve = ReadTrainingCurve(path_);
  ASSERT_EQ(curve.size(), 5u);
  for (size_t i = 0; i < curve.size(); ++i) EXPECT_EQ(curve[i].step, static_cast<int64_t>(i + 1));
}

TEST_F(TrainingLogFile, LongCurveIsThinnedEvenlyKeepingBothEnds) {
  Write(10001);
  std::vector<TrainingPoint> curve = ReadTrainingCurve(path_, 101);
  ASSERT_EQ(curve.size(), 101u);
  EXPECT_EQ(curve.front().step, 1);
  EXPECT_EQ(curve[50].step, 5001);
  EXPECT_EQ(curve.back().step, 10001);
}

TEST_F(TrainingLogFile, LastPointIsTheNewestEvenBehindOtherOutput) {
  Write(3000, "{\"summary\":true,\"tokens\":1}\nwriting checkpoint\n");
  auto last = LastTrainingPoint(path_);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->step, 3000);
  EXPECT_EQ(last->tokens, 300000);
}

TEST_F(TrainingLogFile, MissingLogHasNoPoints) {
  EXPECT_TRUE(ReadTrainingCurve(path_).empty());
  EXPECT_FALSE(LastTrainingPoint(path_));
}

}  // namespace
}  // namespace ratchet

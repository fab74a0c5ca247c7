// Runs the built ratchet-train end to end on a tiny config.
#include <sys/wait.h>

#include <cstdio>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "trainer/checkpoint.h"
#include "trainer/blas_core.h"
#include "trainer/gemm_bf16.h"
#include "trainer/train_loop.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunTrain(const std::string& args) {
  std::string command = std::string(RATCHET_BIN_DIR) + "/ratchet-train " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class TrainMainTest : public ::testing::Test {
 protected:
  TrainMainTest() {
    testing::WriteText(dir_.path() / "train.bin", testing::SampleText());
    config_ = (dir_.path() / "train.json").string();
    testing::WriteText(config_, ToJson(testing::TinyConfig()).dump());
    ckpt_ = (dir_.path() / "out.ckpt").string();
  }
  std::string Args(const std::string& budget) {
    return "--config " + config_ + " --data " + dir_.path().string() + " --out " + ckpt_ +
           " --seed 3 --threads 1 " + budget;
  }
  testing::TempDir dir_;
  std::string config_, ckpt_;
};

TEST_F(TrainMainTest, TrainsPrintsJsonLinesAndWritesALoadableCheckpoint) {
  Result r = RunTrain(Args("--token-budget 800 --log-every 10 --profile"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  std::vector<nlohmann::json> json;
  while (std::getline(lines, line)) json.push_back(nlohmann::json::parse(line));
  ASSERT_GE(json.size(), 7u);  // steps 10..50, the profile, the summary
  EXPECT_EQ(json[0]["step"], 10);
  EXPECT_TRUE(json[0].contains("loss") && json[0].contains("lr") &&
              json[0].contains("tokens_per_s") && json[0].contains("elapsed"));
  EXPECT_TRUE(json[json.size() - 2].contains("profile"));
  EXPECT_TRUE(json[json.size() - 2]["profile"].contains("matmul"));
  const auto& summary = json.back();
  EXPECT_EQ(summary["summary"], true);
  EXPECT_EQ(summary["steps"], 50);
  EXPECT_EQ(summary["tokens"], 800);
  for (const char* key : {"train_loss", "tokens_per_s", "gflops", "peak_rss_mb", "seconds"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  // OpenBLAS ran kernels that fit this CPU (not a pre-AVX2 fallback).
  std::string core = summary["blas_core"];
  EXPECT_STREQ(BetterBlasCoreHere(core.c_str()), "") << core;
  LoadedCheckpoint ckpt = LoadCheckpoint(ckpt_);
  EXPECT_EQ(ckpt.meta["tokens"], 800);
  EXPECT_EQ(ckpt.meta["seed"], 3);
  EXPECT_EQ(ToJson(ckpt.config), ToJson(testing::TinyConfig()));
}

// Exit status 3 (kExitInvalidConfig): what the tinygpt specs declare as
// train.invalid_exit_code, so a ratchet records such a candidate invalid.
TEST_F(TrainMainTest, BadConfigKeyExitsAsInvalidConfigNamingFileAndKey) {
  testing::WriteText(config_, R"({"n_layer": 2, "dropout": 0.1})");
  Result r = RunTrain(Args("--token-budget 800"));
  EXPECT_EQ(r.exit_code, kExitInvalidConfig);
  EXPECT_THAT(r.output, HasSubstr(config_ + ": dropout: unknown key"));
  EXPECT_FALSE(std::filesystem::exists(ckpt_));
}

TEST_F(TrainMainTest, Bf16TrainsWhereTheCpuHasItAndIsAnInvalidConfigElsewhere) {
  nlohmann::json config = ToJson(testing::TinyConfig());
  config["precision"] = "bf16";
  testing::WriteText(config_, config.dump());
  Result r = RunTrain(Args("--token-budget 800 --log-every 0"));
  if (Bf16Supported()) {
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(LoadCheckpoint(ckpt_).config.precision, Precision::kBf16);
  } else {
    EXPECT_EQ(r.exit_code, kExitInvalidConfig);
    EXPECT_THAT(r.output, HasSubstr(config_ + ": precision: bf16 needs a CPU with avx512_bf16"));
    EXPECT_FALSE(std::filesystem::exists(ckpt_));
  }
}

TEST_F(TrainMainTest, MissingBudgetIsAUsageError) {
  Result r = RunTrain(Args(""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("--time-budget"));
}

TEST(BetterBlasCore, ReplacesOnlyPreAvx2KernelsOnCpusThatHaveAvx2) {
  EXPECT_STREQ(BetterBlasCore("Prescott", true, true), "SkylakeX");
  EXPECT_STREQ(BetterBlasCore("Prescott", false, true), "Haswell");
  EXPECT_STREQ(BetterBlasCore("sandybridge", false, true), "Haswell");
  EXPECT_STREQ(BetterBlasCore("Prescott", false, false), "");  // nothing better to pick
  EXPECT_STREQ(BetterBlasCore("Haswell", true, true), "");     // OpenBLAS's choice stands
  EXPECT_STREQ(BetterBlasCore("Zen", false, true), "");
  EXPECT_STREQ(BetterBlasCore("SkylakeX", true, true), "");
}

}  // namespace
}  // namespace ratchet::train

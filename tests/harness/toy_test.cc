// Runs the built ratchet-toy (RATCHET_BIN_DIR) as the controller would:
// through the project's process runner.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ratchet/runner/runner.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Documented in experiments/toy/README.md.
constexpr double kBaselineScore = 28.594159672826617;
const json kOptimumParams = {{"x", 1.5},   {"y", -0.5},    {"lr", 0.003},
                             {"depth", 6}, {"width", 256}, {"act", "swiglu"}};

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ToyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "toy_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs ratchet-toy with `args`; stdout_/stderr_ hold its output.
  ratchet::RunResult Toy(const std::vector<std::string>& args, double timeout_seconds = 20) {
    ratchet::RunRequest request;
    request.argv = {std::string(RATCHET_BIN_DIR) + "/ratchet-toy"};
    request.argv.insert(request.argv.end(), args.begin(), args.end());
    request.stdout_path = dir_ / "stdout.log";
    request.stderr_path = dir_ / "stderr.log";
    request.log_cap_bytes = 0;
    request.timeout_seconds = timeout_seconds;
    request.kill_grace_seconds = 1;
    ratchet::RunResult result = runner_.Run(request);
    stdout_ = Slurp(request.stdout_path);
    stderr_ = Slurp(request.stderr_path);
    return result;
  }

  fs::path WriteParams(const json& params) {
    fs::path path = dir_ / "params.json";
    std::ofstream(path) << params.dump(2);
    return path;
  }

  // Trains on `params`; returns the result file's JSON (null when missing).
  json Train(const json& params, uint64_t seed, double noise, ratchet::RunResult* run = nullptr) {
    fs::path out = dir_ / "result.json";
    fs::remove(out);
    ratchet::RunResult r =
        Toy({"train", "--params", WriteParams(params).string(), "--seed", std::to_string(seed),
             "--out", out.string(), "--noise", std::to_string(noise)});
    if (run) *run = r;
    if (!fs::exists(out)) return nullptr;
    return json::parse(Slurp(out));
  }

  // Last non-empty stdout line.
  std::string LastLine() const {
    std::istringstream in(stdout_);
    std::string line, last;
    while (std::getline(in, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }

  fs::path dir_;
  std::string stdout_, stderr_;
  ratchet::PosixProcessRunner runner_;
};

TEST_F(ToyTest, OptimumCommandPrintsTheDocumentedOptimumAndItScoresExactlyZero) {
  ratchet::RunResult r = Toy({"optimum"});
  ASSERT_TRUE(r.Succeeded()) << r.Describe() << stderr_;
  json optimum = json::parse(stdout_);
  EXPECT_EQ(optimum["params"], kOptimumParams);
  EXPECT_EQ(optimum["score"].get<double>(), 0.0);

  json result = Train(optimum["params"], 1, 0.0);
  ASSERT_FALSE(result.is_null()) << stderr_;
  EXPECT_EQ(result["score"].get<double>(), 0.0);
  EXPECT_EQ(result["true_score"].get<double>(), 0.0);
}

TEST_F(ToyTest, TemplateBaselineScoresTheDocumentedValue) {
  json baseline = json::parse(Slurp(fs::path(RATCHET_SOURCE_DIR) / "experiments/toy/params.json"));
  json result = Train(baseline, 1, 0.0);
  ASSERT_FALSE(result.is_null()) << stderr_;
  EXPECT_NEAR(result["true_score"].get<double>(), kBaselineScore, 1e-9);
}

TEST_F(ToyTest, MovingAnyParameterAwayFromTheOptimumRaisesTheScore) {
  const std::vector<std::pair<std::string, json>> moves = {
      {"x", 1.0}, {"y", 0.0}, {"lr", 0.01}, {"depth", 5}, {"width", 300}, {"act", "gelu"}};
  for (const auto& [key, value] : moves) {
    json params = kOptimumParams;
    params[key] = value;
    json result = Train(params, 1, 0.0);
    ASSERT_FALSE(result.is_null()) << key << ": " << stderr_;
    EXPECT_GT(result["true_score"].get<double>(), 0.01) << key;
  }
}

TEST_F(ToyTest, SameSeedGivesTheSameScoreAndAnotherSeedAnother) {
  json a = Train(kOptimumParams, 7, 0.3);
  json b = Train(kOptimumParams, 7, 0.3);
  json c = Train(kOptimumParams, 8, 0.3);
  ASSERT_FALSE(a.is_null() || b.is_null() || c.is_null()) << stderr_;
  EXPECT_EQ(a["score"].get<double>(), b["score"].get<double>());
  EXPECT_NE(a["score"].get<double>(), c["score"].get<double>());
  EXPECT_EQ(a["true_score"].get<double>(), 0.0);
  EXPECT_NE(a["score"].get<double>(), 0.0);
}

TEST_F(ToyTest, NoiseHasTheRequestedStandardDeviation) {
  const int n = 60;
  double sum = 0, sum_sq = 0;
  for (int seed = 0; seed < n; ++seed) {
    json r = Train(kOptimumParams, static_cast<uint64_t>(seed), 0.3);
    ASSERT_FALSE(r.is_null()) << stderr_;
    const double noise = r["score"].get<double>() - r["true_score"].get<double>();
    sum += noise;
    sum_sq += noise * noise;
  }
  const double mean = sum / n;
  const double sd = std::sqrt(sum_sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.15);
  EXPECT_NEAR(sd, 0.3, 0.09);
}

TEST_F(ToyTest, ParamsCannotSetTheNoiseOrTheSeed) {
  json honest = Train(kOptimumParams, 3, 0.3);
  json params = kOptimumParams;
  params["noise"] = 0;
  params["seed"] = 12345;
  params["some_unknown_knob"] = "ignored";
  json cheat = Train(params, 3, 0.3);
  ASSERT_FALSE(honest.is_null() || cheat.is_null()) << stderr_;
  EXPECT_EQ(cheat["score"].get<double>(), honest["score"].get<double>());
}

TEST_F(ToyTest, CrashSwitchAbortsWithoutAResult) {
  json params = kOptimumParams;
  params["crash"] = true;
  ratchet::RunResult r;
  json result = Train(params, 1, 0.0, &r);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSignaled);
  EXPECT_EQ(r.term_signal, SIGABRT);
  EXPECT_TRUE(result.is_null());
}

TEST_F(ToyTest, HangSwitchRunsUntilTheDeadline) {
  json params = kOptimumParams;
  params["hang"] = true;
  ratchet::RunResult r = Toy({"train", "--params", WriteParams(params).string(), "--seed", "1",
                              "--out", (dir_ / "result.json").string()},
                             /*timeout_seconds=*/0.3);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kTimedOut);
  EXPECT_FALSE(fs::exists(dir_ / "result.json"));
}

TEST_F(ToyTest, ExitCodeSwitchExitsWithThatCodeWithoutAResult) {
  json params = kOptimumParams;
  params["exit_code"] = 7;
  ratchet::RunResult r;
  json result = Train(params, 1, 0.0, &r);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_TRUE(result.is_null());
}

TEST_F(ToyTest, FloodSwitchWritesThatManyMegabytesThenTrains) {
  json params = kOptimumParams;
  params["flood_mb"] = 3;
  ratchet::RunResult r;
  json result = Train(params, 1, 0.0, &r);
  ASSERT_TRUE(r.Succeeded()) << r.Describe();
  EXPECT_GE(r.stdout_bytes, 3u << 20);
  EXPECT_LT(r.stdout_bytes, (3u << 20) + 4096);
  EXPECT_FALSE(result.is_null());
}

TEST_F(ToyTest, NanSwitchMakesEvalPrintNanInBothFormats) {
  json params = kOptimumParams;
  params["nan"] = true;
  json result = Train(params, 1, 0.3);
  ASSERT_FALSE(result.is_null()) << stderr_;
  EXPECT_TRUE(result["score"].is_null());
  const std::string path = (dir_ / "result.json").string();

  ASSERT_TRUE(Toy({"eval", "--result", path, "--format", "json"}).Succeeded());
  EXPECT_EQ(LastLine(), "{\"score\": NaN, \"true_score\": NaN}");
  ASSERT_TRUE(Toy({"eval", "--result", path, "--format", "kv"}).Succeeded());
  EXPECT_NE(stdout_.find("\nscore: nan\n"), std::string::npos) << stdout_;
}

TEST_F(ToyTest, EvalJsonPrintsTheScoreAsTheLastJsonLine) {
  json result = Train(kOptimumParams, 5, 0.3);
  ASSERT_FALSE(result.is_null()) << stderr_;
  ratchet::RunResult r = Toy({"eval", "--result", (dir_ / "result.json").string()});
  ASSERT_TRUE(r.Succeeded()) << stderr_;
  json line = json::parse(LastLine());
  EXPECT_EQ(line["score"].get<double>(), result["score"].get<double>());
  EXPECT_EQ(line["true_score"].get<double>(), 0.0);
}

TEST_F(ToyTest, EvalKvPrintsNameValueLinesWithOthersAround) {
  json result = Train(kOptimumParams, 5, 0.3);
  ASSERT_FALSE(result.is_null()) << stderr_;
  ratchet::RunResult r =
      Toy({"eval", "--result", (dir_ / "result.json").string(), "--format", "kv"});
  ASSERT_TRUE(r.Succeeded()) << stderr_;
  std::istringstream in(stdout_);
  std::string line;
  int lines = 0;
  double score = std::nan("");
  while (std::getline(in, line)) {
    ++lines;
    if (line.rfind("score: ", 0) == 0) score = std::stod(line.substr(7));
  }
  EXPECT_EQ(score, result["score"].get<double>());
  EXPECT_GE(lines, 4);
  EXPECT_NE(stdout_.find("true_score: 0\n"), std::string::npos) << stdout_;
}

TEST_F(ToyTest, EvalOfAMissingResultExitsOneNamingTheFile) {
  ratchet::RunResult r = Toy({"eval", "--result", (dir_ / "missing.json").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(stderr_.find("missing.json"), std::string::npos) << stderr_;
}

TEST_F(ToyTest, MissingParameterIsAnErrorNamingIt) {
  json params = kOptimumParams;
  params.erase("depth");
  ratchet::RunResult r;
  json result = Train(params, 1, 0.0, &r);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(stderr_.find("\"depth\""), std::string::npos) << stderr_;
  EXPECT_TRUE(result.is_null());
}

}  // namespace

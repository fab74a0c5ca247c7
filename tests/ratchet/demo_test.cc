// The demo's promise (scripts/demo, specs/quickstart.json): from its
// deliberately poor learning rate the ratchet finds, confirms and keeps a
// better one in its first experiments. Checked on the spec with a smaller
// token budget; a token budget makes the outcome independent of how fast or
// busy this machine is (the trainer is deterministic for a seed and a token
// count). The real demo's 5-minute target is measured, not asserted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(QuickstartDemo, AcceptsABetterLearningRateWithinTwoExperiments) {
  TempDir temp;
  const fs::path workspace = temp.path() / "demo-workspace";
  // The spec itself, a smaller token budget.
  CommandOutput run = RunProgram(
      RatchetArgs({"run", (SourceDir() / "specs" / "quickstart.json").string(), "--workspace",
                   workspace.string(), "--max-experiments", "2", "--budget", "150000"}),
      temp.path(), 900);
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  // Not a terminal: plain progress lines, with the trainer's loss and rate.
  EXPECT_THAT(run.err, HasSubstr("[0] calibrate 1/3 train\n"));
  EXPECT_THAT(run.err,
              ContainsRegex(R"(\[1\] measure train +[0-9.]+k / 150\.0k tok  loss [0-9.]+  )"
                            R"([0-9.]+k? tok/s  eta)"));

  CommandOutput log = RunProgram(
      RatchetArgs({"log", "--workspace", workspace.string(), "--format", "json"}), temp.path());
  json experiments = json::parse(log.out);
  std::vector<json> accepted;
  for (const json& e : experiments) {
    if (e["seq"] > 0 && e["status"] == "accepted") accepted.push_back(e);
  }
  ASSERT_FALSE(accepted.empty()) << log.out;
  // What it found is the planted flaw: a higher learning rate.
  const json& first = accepted.front();
  EXPECT_THAT(first["description"].get<std::string>(), MatchesRegex("lr 0\\.0003 -> 0\\.[0-9]+.*"));
  EXPECT_GT(first["params"]["lr"].get<double>(), 0.0003);
  EXPECT_LT(first["metric"].get<double>(), experiments[0]["metric"].get<double>());

  // The report draws the best's training curve against the baseline's.
  CommandOutput report = RunProgram(RatchetArgs({"report", "--workspace", workspace.string(),
                                                 "--html", (temp.path() / "report.html").string()}),
                                    temp.path());
  ASSERT_TRUE(report.result.Succeeded()) << report.err;
  std::string html = ReadFile(temp.path() / "report.html");
  EXPECT_THAT(html, HasSubstr("Training loss: best against baseline"));
  EXPECT_THAT(html, HasSubstr("<title>best (experiment " + first["seq"].dump() + "): last loss"));
  EXPECT_THAT(html, HasSubstr("<title>baseline: last loss"));
}

}  // namespace
}  // namespace ratchet::testing

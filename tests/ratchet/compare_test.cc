#include "ratchet/report/compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/report/import.h"
#include "ratchet/loop/loop.h"
#include "tests/ratchet/report_fixture.h"

namespace ratchet {
namespace {

using testing::AddSyntheticRun;
using ::testing::HasSubstr;
using testing::MachineB;
using ::testing::Not;
using testing::ReportTempDir;
using testing::SyntheticRun;
namespace fs = std::filesystem;

// Machine A's run in a workspace, machine B's in a store file; B found a
// deeper optimum (depth 8 against 4) with a token budget.
class CompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(RatchetDir(dir_.path() / "a"));
    Store a = Store::Open(StorePath(dir_.path() / "a"));
    AddSyntheticRun(a, SyntheticRun{});
    Store b = Store::Open(dir_.path() / "b.db");
    AddSyntheticRun(b, OnB());
  }
  static SyntheticRun OnB() {
    SyntheticRun on_b;
    on_b.tag = "tokens";
    on_b.hardware = MachineB();
    on_b.budget_kind = "tokens";
    on_b.budget_amount = 1e6;
    on_b.depth_of_best = 8;
    return on_b;
  }
  std::string A() { return (dir_.path() / "a").string(); }
  std::string B() { return (dir_.path() / "b.db").string(); }
  ReportTempDir dir_;
};

TEST_F(CompareTest, ShowsRunsSideBySideWithDifferingParametersMarked) {
  std::ostringstream out;
  CommandCompare({{A(), B() + ":tokens"}, {}, "seq"}, out);
  std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("AMD EPYC 7B13, 2 cores, 8 GiB"));
  EXPECT_THAT(text, HasSubstr("Intel Core i9-13900K, 32 cores, 64 GiB"));
  EXPECT_THAT(text, HasSubstr("time 300 s"));
  EXPECT_THAT(text, HasSubstr("tokens 1e+06"));
  EXPECT_TRUE(std::regex_search(text, std::regex("\\* model\\.depth +4 +8")));
  EXPECT_TRUE(std::regex_search(text, std::regex("\n  optim\\.lr +0\\.2 +0\\.2")));
  EXPECT_TRUE(std::regex_search(text, std::regex("best +2\\.6 \\(#8\\) +2\\.6 \\(#8\\)")));
  // 10 proposals each, one a duplicate that never ran (what -n counts).
  EXPECT_TRUE(std::regex_search(
      text, std::regex("experiments +9 \\(2 accepted; 1 duplicates skipped\\) +9 \\(")));
  EXPECT_THAT(text, Not(HasSubstr("not comparable")));
}

TEST_F(CompareTest, RunsWithDifferentEvaluatorsAreShownButNotCompared) {
  {
    Store b = Store::Open(dir_.path() / "b.db");
    SyntheticRun other = OnB();
    other.tag = "other-eval";
    other.pins_digest = std::string(64, 'q');
    AddSyntheticRun(b, other);
  }
  std::ostringstream out;
  CompareOptions options{{A(), B() + ":other-eval"}, dir_.path() / "cmp.html", "seq"};
  CommandCompare(options, out);
  EXPECT_THAT(out.str(), HasSubstr("note: A and B are not comparable: different evaluators"));
  std::string html = ReadFile(options.html);
  EXPECT_THAT(html, HasSubstr("class=\"warn\">A and B are not comparable"));
  // Two separate charts, not one overlay.
  size_t charts = 0;
  for (size_t at = 0; (at = html.find("class=\"progress-chart\"", at)) != std::string::npos; ++at) {
    ++charts;
  }
  EXPECT_EQ(charts, 2u);
}

TEST_F(CompareTest, HtmlOverlaysTheProgressOfComparableRuns) {
  std::ostringstream out;
  CompareOptions options{{A(), B()}, dir_.path() / "cmp.html", "hours"};
  CommandCompare(options, out);
  std::string html = ReadFile(options.html);
  size_t charts = 0;
  for (size_t at = 0; (at = html.find("class=\"progress-chart\"", at)) != std::string::npos; ++at) {
    ++charts;
  }
  EXPECT_EQ(charts, 1u);
  EXPECT_THAT(html, HasSubstr("data-run=\"0\""));
  EXPECT_THAT(html, HasSubstr("data-run=\"1\""));
  EXPECT_THAT(html, HasSubstr("hours since the run started"));
  EXPECT_THAT(html, HasSubstr("<tr class=\"differs\"><td>model.depth</td><td>4</td><td>8</td>"));
}

TEST_F(CompareTest, ImportedRunsCompareFromOneWorkspace) {
  std::ostringstream out;
  CommandImport({dir_.path() / "b.db", dir_.path() / "a"}, out);
  CommandCompare({{A() + ":night", A() + ":tokens"}, {}, "seq"}, out);
  EXPECT_THAT(out.str(), HasSubstr("Intel Core i9-13900K"));
  EXPECT_THAT(out.str(), HasSubstr("AMD EPYC 7B13"));
}

TEST_F(CompareTest, UnknownSourcesAreNamedInTheError) {
  std::ostringstream out;
  try {
    CommandCompare({{A(), (dir_.path() / "missing").string()}, {}, "seq"}, out);
    FAIL();
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("missing: no such workspace or store file"));
  }
}

}  // namespace
}  // namespace ratchet

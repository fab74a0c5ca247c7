#include "ratchet/report/results_tsv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "base/fs.h"
#include "ratchet/loop/loop.h"
#include "tests/ratchet/report_fixture.h"

namespace ratchet {
namespace {

using testing::AddSyntheticRun;
using ::testing::ElementsAre;
using testing::ReportTempDir;
using testing::SyntheticRun;

std::vector<std::vector<std::string>> Rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::stringstream fields(line);
    for (std::string cell; std::getline(fields, cell, '\t');) cells.push_back(cell);
    if (!line.empty() && line.back() == '\t') cells.push_back("");  // an empty last cell
    rows.push_back(cells);
  }
  return rows;
}

class ResultsTsvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(RatchetDir(dir_.path()));
    store_.emplace(Store::Open(StorePath(dir_.path())));
    run_id_ = AddSyntheticRun(*store_, SyntheticRun{});
  }
  RunRow Run() { return *store_->GetRun(run_id_); }
  ReportTempDir dir_;
  std::optional<Store> store_;
  int64_t run_id_ = 0;
};

TEST_F(ResultsTsvTest, HasExactlyTheFiveAutoresearchColumnsAndOneRowPerDecidedExperiment) {
  std::ostringstream out;
  WriteResultsTsv(LoadRunData(*store_, Run()), out);
  const auto rows = Rows(out.str());
  ASSERT_EQ(rows.size(), 12u);  // header + 11 experiments
  EXPECT_THAT(rows[0], ElementsAre("commit", "val_bpb", "memory_gb", "status", "description"));
  for (const auto& row : rows) EXPECT_EQ(row.size(), 5u);
  EXPECT_THAT(rows[1], ElementsAre("ccccccc", "3.000000", "2.0", "keep", "baseline"));
  EXPECT_EQ(rows[4][3], "crash");
  EXPECT_EQ(rows[4][1], "0.000000");  // a crash has no metric, as autoresearch writes it
  EXPECT_EQ(rows[7][3], "discard");   // duplicate
  EXPECT_EQ(rows[11][4], "tab here, \"quoted\", <b>&");
}

TEST_F(ResultsTsvTest, AnExperimentStillRunningIsLeftOutUntilItIsDecided) {
  ExperimentRow running;
  running.run_id = run_id_;
  running.seq = 11;
  running.parent_commit = std::string(40, '0');
  running.description = "in flight";
  running.status = ExperimentStatus::kRunning;
  store_->InsertExperiment(running);
  std::ostringstream out;
  WriteResultsTsv(LoadRunData(*store_, Run()), out);
  EXPECT_EQ(Rows(out.str()).size(), 12u);
  EXPECT_EQ(out.str().find("in flight"), std::string::npos);
}

TEST_F(ResultsTsvTest, TheFileIsReplacedWholeInTheRunsFolder) {
  const auto path = ResultsTsvPath(dir_.path(), "night");
  EXPECT_EQ(path, dir_.path() / ".ratchet" / "runs" / "night" / "results.tsv");
  std::filesystem::create_directories(path.parent_path());
  WriteFileAtomic(path, "stale\nrows\nfrom\nbefore\nthat\nare\nmany\nmore\nlines\n");
  WriteResultsTsvFile(*store_, Run(), path);
  std::ostringstream expected;
  WriteResultsTsv(LoadRunData(*store_, Run()), expected);
  EXPECT_EQ(ReadFile(path), expected.str());
}

}  // namespace
}  // namespace ratchet

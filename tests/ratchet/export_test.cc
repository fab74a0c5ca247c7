#include "ratchet/report/export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop.h"
#include "tests/ratchet/report_fixture.h"

namespace ratchet {
namespace {

using testing::AddSyntheticRun;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::ReportTempDir;
using testing::SyntheticRun;

std::vector<std::string> Split(const std::string& line, char sep) {
  std::vector<std::string> cells;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, sep)) cells.push_back(cell);
  if (!line.empty() && line.back() == sep) cells.push_back("");
  return cells;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(RatchetDir(dir_.path()));
    Store store = Store::Open(StorePath(dir_.path()));
    AddSyntheticRun(store, SyntheticRun{});
  }
  RunData Load() { return LoadWorkspaceRun(dir_.path(), ""); }
  ReportTempDir dir_;
};

TEST_F(ExportTest, TsvStartsWithTheAutoresearchColumnsNamedAfterTheMetric) {
  std::ostringstream out;
  WriteTsv(Load(), out);
  std::vector<std::string> lines = Lines(out.str());
  std::vector<std::string> header = Split(lines[0], '\t');
  ASSERT_GE(header.size(), 5u);
  EXPECT_EQ((std::vector<std::string>(header.begin(), header.begin() + 5)),
            (std::vector<std::string>{"commit", "val_bpb", "memory_gb", "status", "description"}));
  EXPECT_EQ(header[5], "seq");
  EXPECT_EQ(lines.size(), 12u);  // header + 11 experiments
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(Split(lines[i], '\t').size(), header.size()) << lines[i];
  }
}

TEST_F(ExportTest, TsvRowsUseKeepDiscardCrashAndZerosForMissingMetrics) {
  std::ostringstream out;
  WriteTsv(Load(), out);
  std::vector<std::string> lines = Lines(out.str());
  auto row = [&](int seq) { return Split(lines[seq + 1], '\t'); };
  EXPECT_THAT(row(0),
              ::testing::ElementsAre("ccccccc", "3.000000", "2.0", "keep", "baseline", "0",
                                     "accepted", ::testing::_, "3", "50.000", "40", "", "2097152",
                                     "baseline", ::testing::_, ::testing::_, ""));
  EXPECT_EQ(row(1)[3], "discard");
  EXPECT_EQ(row(2)[3], "keep");
  EXPECT_EQ(row(3)[3], "crash");
  EXPECT_EQ(row(3)[1], "0.000000");
  EXPECT_EQ(row(3).back(), "train: exit 1: loss is nan");
  EXPECT_EQ(row(4)[3], "crash");    // invalid
  EXPECT_EQ(row(6)[3], "discard");  // duplicate
  EXPECT_EQ(row(7)[3], "crash");    // timeout
  // Tabs in a description cannot break the columns.
  EXPECT_EQ(row(10)[4], "tab here, \"quoted\", <b>&");
}

TEST_F(ExportTest, JsonRoundTripsEveryRow) {
  RunData data = Load();
  nlohmann::json exported = nlohmann::json::parse(ExportJson(data).dump(2));
  RunData back = RunDataFromExportJson(exported);

  auto same_json = [](const std::string& a, const std::string& b) {
    return nlohmann::json::parse(a) == nlohmann::json::parse(b);
  };
  EXPECT_EQ(back.run.uid, data.run.uid);
  EXPECT_EQ(back.run.tag, data.run.tag);
  EXPECT_EQ(back.run.noise_sd, data.run.noise_sd);
  EXPECT_EQ(back.run.ended_at, data.run.ended_at);
  EXPECT_EQ(back.run.state, data.run.state);
  EXPECT_TRUE(same_json(back.run.spec_json, data.run.spec_json));
  ASSERT_TRUE(back.hardware.has_value());
  EXPECT_EQ(back.hardware->fingerprint, data.hardware->fingerprint);
  EXPECT_EQ(back.hardware->info.cpu_model, "AMD EPYC 7B13");
  ASSERT_EQ(back.experiments.size(), data.experiments.size());
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    const ExperimentRow& a = data.experiments[i];
    const ExperimentRow& b = back.experiments[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.seq, a.seq);
    EXPECT_EQ(b.status, a.status);
    EXPECT_EQ(b.metric, a.metric);
    EXPECT_EQ(b.spread, a.spread);
    EXPECT_EQ(b.commit, a.commit);
    EXPECT_EQ(b.description, a.description);
    EXPECT_EQ(b.reason, a.reason);
    EXPECT_EQ(b.started_at, a.started_at);
    EXPECT_EQ(b.ended_at, a.ended_at);
    EXPECT_EQ(b.peak_rss_kb, a.peak_rss_kb);
    EXPECT_EQ(b.n_measurements, a.n_measurements);
    EXPECT_TRUE(same_json(b.params_json, a.params_json));
    EXPECT_EQ(b.decision_json.has_value(), a.decision_json.has_value());
    ASSERT_EQ(back.measurements[i].size(), data.measurements[i].size());
    for (size_t j = 0; j < data.measurements[i].size(); ++j) {
      const MeasurementRow& ma = data.measurements[i][j];
      const MeasurementRow& mb = back.measurements[i][j];
      EXPECT_EQ(mb.seed, ma.seed);
      EXPECT_EQ(mb.role, ma.role);
      EXPECT_EQ(mb.metric, ma.metric);
      EXPECT_EQ(mb.created_at, ma.created_at);
      EXPECT_TRUE(same_json(*mb.extra_json, *ma.extra_json));
    }
  }
  ASSERT_EQ(back.events.size(), 1u);
  EXPECT_EQ(back.events[0].message, "plateau: widening step");
}

TEST_F(ExportTest, JsonCarriesTheProposersPromptAndReply) {
  {
    Store store = Store::Open(StorePath(dir_.path()));
    RunRow run = store.ListRuns().at(0);
    store.SetExchange(store.GetExperiment(run.id, 2)->id, "# Experiment 2\nmake it faster",
                      "```diff\n-a\n+b\n```");
  }
  nlohmann::json exported = ExportJson(Load());
  EXPECT_EQ(exported["experiments"][2]["prompt"], "# Experiment 2\nmake it faster");
  EXPECT_EQ(exported["experiments"][2]["reply"], "```diff\n-a\n+b\n```");
  EXPECT_FALSE(exported["experiments"][1].contains("prompt"));
  RunData back = RunDataFromExportJson(exported);
  ASSERT_EQ(back.exchanges.size(), back.experiments.size());
  ASSERT_TRUE(back.exchanges[2]);
  EXPECT_EQ(back.exchanges[2]->reply, "```diff\n-a\n+b\n```");
  EXPECT_FALSE(back.exchanges[1]);
}

TEST_F(ExportTest, JsonOfAnUnknownVersionIsRefused) {
  nlohmann::json exported = ExportJson(Load());
  exported["version"] = 99;
  try {
    RunDataFromExportJson(exported);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("version 99"));
  }
}

TEST_F(ExportTest, CsvQuotesCommasQuotesAndNewlines) {
  std::ostringstream out;
  WriteCsv(Load(), out);
  std::string text = out.str();
  EXPECT_THAT(text, HasSubstr(",\"tab\there, \"\"quoted\"\", <b>&\","));
  std::vector<std::string> lines = Lines(text);
  EXPECT_THAT(lines[0], HasSubstr("run_tag,run_uid,metric_name,goal,hardware,seq,status,metric"));
  EXPECT_EQ(lines.size(), 12u);
}

TEST_F(ExportTest, CommandWritesTheOutputFile) {
  ExportOptions options;
  options.workspace = dir_.path();
  options.format = "json";
  options.output = dir_.path() / "night.json";
  std::ostringstream out;
  CommandExport(options, out);
  EXPECT_EQ(out.str(), "");
  nlohmann::json root = nlohmann::json::parse(ReadFile(options.output));
  EXPECT_EQ(root["experiments"].size(), 11u);
  EXPECT_EQ(root["experiments"][0]["measurements"].size(), 3u);
}

}  // namespace
}  // namespace ratchet

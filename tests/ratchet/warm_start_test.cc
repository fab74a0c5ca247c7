// History for proposers from the store, and the warm start from earlier runs.
#include "ratchet/loop/warm_start.h"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace ratchet {
namespace {

namespace fs = std::filesystem;

class WarmStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "warm_start_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_.emplace(Store::Open(dir_ / "store.db"));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  HardwareInfo Machine(const std::string& cpu) {
    HardwareInfo h;
    h.cpu_model = cpu;
    h.cores = 2;
    h.memory_bytes = 1 << 30;
    h.gpu = "none";
    h.os = "test";
    h.compiler = "gcc";
    return h;
  }
  RunRow Run(const std::string& tag, const std::string& spec, const std::string& cpu) {
    RunRow r;
    r.tag = tag;
    r.spec_name = spec;
    r.workspace = dir_.string();
    r.baseline_commit = std::string(40, 'a');
    r.hardware_id = store_->UpsertHardware(Machine(cpu));
    r.metric_name = "score";
    r.id = store_->CreateRun(r);
    return *store_->GetRun(r.id);
  }
  void Experiment(const RunRow& run, int64_t seq, ExperimentStatus status,
                  std::optional<double> metric, const std::string& params,
                  const std::string& reason = "") {
    ExperimentRow e;
    e.run_id = run.id;
    e.seq = seq;
    e.parent_commit = run.baseline_commit;
    e.proposer = "tpe";
    e.description = "d" + std::to_string(seq);
    e.params_json = params;
    e.status = status;
    e.metric = metric;
    if (!reason.empty()) e.reason = reason;
    store_->InsertExperiment(e);
  }

  fs::path dir_;
  std::optional<Store> store_;
};

TEST_F(WarmStartTest, HistoryOfCarriesStatusMetricParamsAndReason) {
  RunRow run = Run("a", "toy", "cpu1");
  Experiment(run, 0, ExperimentStatus::kAccepted, 2.0, "{}");
  Experiment(run, 1, ExperimentStatus::kCrashed, std::nullopt, R"({"x": 1})", "train exit 2");
  std::vector<HistoryEntry> h = HistoryOf(*store_, run.id);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].status, "accepted");
  EXPECT_EQ(h[0].metric, 2.0);
  EXPECT_EQ(h[1].status, "crashed");
  EXPECT_EQ(h[1].params, (nlohmann::json{{"x", 1}}));
  EXPECT_EQ(h[1].reason, "train exit 2");
  EXPECT_EQ(h[1].description, "d1");
}

TEST_F(WarmStartTest, TakesOnlyEarlierRunsOfTheSameSpecOnTheSameHardware) {
  RunRow same = Run("old", "toy", "cpu1");
  RunRow other_spec = Run("x", "tinygpt", "cpu1");
  RunRow other_machine = Run("y", "toy", "cpu2");
  RunRow now = Run("new", "toy", "cpu1");
  Experiment(same, 1, ExperimentStatus::kRejected, 1.5, R"({"x": 1})");
  Experiment(other_spec, 1, ExperimentStatus::kRejected, 1.5, R"({"x": 2})");
  Experiment(other_machine, 1, ExperimentStatus::kRejected, 1.5, R"({"x": 3})");
  Experiment(now, 1, ExperimentStatus::kRejected, 1.5, R"({"x": 4})");
  std::vector<HistoryEntry> prior = WarmStartHistory(*store_, now);
  ASSERT_EQ(prior.size(), 1u);
  EXPECT_EQ(prior[0].params, (nlohmann::json{{"x", 1}}));
}

}  // namespace
}  // namespace ratchet

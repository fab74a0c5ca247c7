// Synthetic runs written straight through the Store API, for the tests of
// reports, export, import and compare: deterministic, no processes, every
// experiment status present.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ratchet/store/hardware.h"
#include "ratchet/store/store.h"

namespace ratchet::testing {

namespace fs = std::filesystem;

class ReportTempDir {
 public:
  ReportTempDir() {
    std::string pattern = (fs::temp_directory_path() / "ratchet-report-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ReportTempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline HardwareInfo MachineA() {
  return {"AMD EPYC 7B13", 2, 8ull << 30, "none", "Debian GNU/Linux 12 (bookworm)", "gcc 12.2.0"};
}
inline HardwareInfo MachineB() {
  return {"Intel Core i9-13900K",           32,          64ull << 30, "NVIDIA GeForce RTX 4090",
          "Debian GNU/Linux 12 (bookworm)", "gcc 12.2.0"};
}

struct SyntheticRun {
  std::string tag = "night";
  HardwareInfo hardware = MachineA();
  std::string pins_digest = std::string(64, 'p');
  std::string budget_kind = "time";
  double budget_amount = 300;
  double t0 = 1'790'000'000;  // started_at of the run
  int depth_of_best = 4;      // best config's "depth", to make configs differ
};

// Seq: 0 baseline (accepted, 3 calibration measurements, metric 3.0),
// 1 rejected, 2 accepted "lr 0.1 -> 0.2", 3 crashed, 4 invalid, 5 rejected,
// 6 duplicate, 7 timeout, 8 accepted "depth 2 -> N", 9 rejected outlier 100,
// 10 rejected with a description needing escaping.
inline int64_t AddSyntheticRun(Store& store, const SyntheticRun& spec) {
  RunRow run;
  run.tag = spec.tag;
  run.spec_name = "tinygpt";
  run.spec_json = nlohmann::json({{"name", "tinygpt"},
                                  {"proposer", {{"kind", "local"}, {"config", "config.json"}}},
                                  {"budget", {{"kind", spec.budget_kind}}}})
                      .dump();
  run.spec_sha256 = std::string(64, 's');
  run.workspace = "/nonexistent/ws-" + spec.tag;
  run.baseline_commit = std::string(40, '0');
  run.hardware_id = store.UpsertHardware(spec.hardware);
  run.budget_kind = spec.budget_kind;
  run.budget_amount = spec.budget_amount;
  run.metric_name = "val_bpb";
  run.pins_digest = spec.pins_digest;
  run.started_at = spec.t0;
  int64_t run_id = store.CreateRun(run);

  struct Row {
    ExperimentStatus status;
    std::optional<double> metric;
    const char* description;
    const char* reason;
    int depth;
    double lr;
  };
  const Row rows[] = {
      {ExperimentStatus::kAccepted, 3.0, "baseline", nullptr, 2, 0.1},
      {ExperimentStatus::kRejected, 3.05, "width 64 -> 96", "first measurement not better", 2, 0.1},
      {ExperimentStatus::kAccepted, 2.8, "lr 0.1 -> 0.2", "confirmed", 2, 0.2},
      {ExperimentStatus::kCrashed, std::nullopt, "lr 0.2 -> 3.0", "train: exit 1: loss is nan", 2,
       3.0},
      {ExperimentStatus::kInvalid, std::nullopt, "", "nothing to change", 2, 0.2},
      {ExperimentStatus::kRejected, 2.9, "act relu -> gelu", "first measurement not better", 2,
       0.2},
      {ExperimentStatus::kDuplicate, std::nullopt, "act relu -> gelu", "same files as experiment 5",
       2, 0.2},
      {ExperimentStatus::kTimeout, std::nullopt, "depth 2 -> 16", "train: timed out after 600 s",
       16, 0.2},
      {ExperimentStatus::kAccepted, 2.6, "depth 2 -> N", "confirmed", spec.depth_of_best, 0.2},
      {ExperimentStatus::kRejected, 100.0, "lr 0.2 -> 0.9", "first measurement not better",
       spec.depth_of_best, 0.9},
      {ExperimentStatus::kRejected, 2.7, "tab\there, \"quoted\", <b>&", "not better",
       spec.depth_of_best, 0.2},
  };
  int64_t seq = 0;
  for (const Row& row : rows) {
    ExperimentRow e;
    e.run_id = run_id;
    e.seq = seq;
    e.parent_commit = std::string(40, '0');
    e.commit = std::string(39, 'c') + std::to_string(seq % 10);
    e.proposer = seq == 0 ? "baseline" : "local";
    e.description = row.description;
    if (std::string(row.description) == "depth 2 -> N") {
      e.description = "depth 2 -> " + std::to_string(spec.depth_of_best);
    }
    e.params_json = nlohmann::json({{"model", {{"depth", row.depth}, {"width", 64}}},
                                    {"optim", {{"lr", row.lr}}},
                                    {"act", "relu"}})
                        .dump();
    e.status = row.status;
    e.phase = "done";
    e.metric = row.metric;
    e.started_at = spec.t0 + 60.0 * seq;
    e.ended_at = e.started_at + 50;
    e.train_seconds = 40;
    e.peak_rss_kb = 2 * 1024 * 1024;  // 2 GiB
    if (row.reason) e.reason = std::string(row.reason);
    if (row.status == ExperimentStatus::kAccepted && seq > 0) {
      e.decision_json = R"({"rule":"confirm","t":7.5})";
    }
    e.n_measurements = seq == 0 ? 3 : (row.metric ? 1 : 0);
    if (seq == 0) e.spread = 0.01;
    e.id = store.InsertExperiment(e);
    for (int64_t r = 0; r < e.n_measurements; ++r) {
      MeasurementRow m;
      m.experiment_id = e.id;
      m.repeat = r;
      m.seed = 1000 + seq * 10 + r;
      m.role = seq == 0 ? MeasurementRole::kCalibration : MeasurementRole::kCandidate;
      m.metric = *row.metric + 0.01 * r;
      m.train_seconds = 40;
      m.eval_seconds = 5;
      m.extra_json = R"({"tokens_per_second": 1234.5})";
      m.created_at = e.started_at + 45;
      store.AddMeasurement(m);
    }
    ++seq;
  }
  store.SetNoise(run_id, 0.02, 3.0);
  store.SetBestCommit(run_id, std::string(39, 'c') + "8");
  store.SetRunState(run_id, RunState::kFinished);
  store.AddEvent(run_id, "info", "plateau: widening step");
  return run_id;
}

}  // namespace ratchet::testing

// Internals of the loop, shared by loop*.cc: the Controller that runs one
// ratchet, and the helpers its files share. Not part of the public API
// (that is loop.h).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ratchet/loop/acceptance.h"
#include "ratchet/loop/lock.h"
#include "ratchet/loop/loop.h"
#include "ratchet/loop/pin.h"
#include "ratchet/spec/placeholders.h"
#include "ratchet/runner/process_limit.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/runner/sandbox.h"
#include "ratchet/spec/spec.h"
#include "ratchet/store/store.h"
#include "ratchet/git/workspace.h"

namespace ratchet::internal {

namespace fs = std::filesystem;


// Enough of a log to show the last lines and find the metric, without
// reading a huge file back.
constexpr size_t kLogTailBytes = 8192;
constexpr size_t kOutputScanBytes = 65536;
constexpr int kMaxDuplicatesInARow = 50;
// Candidates are built one at a time in this worktree slot, reset to the best
// commit before each proposal.
constexpr int64_t kCandidateSlot = 0;
constexpr uintmax_t kKeptArtifactBytes = 1 << 20;

uint64_t SplitMix64(uint64_t x);
// The seed of one measurement: fixed by (tag, seq, index), never by the
// candidate, and fresh for every repeat. Kept below 2^31 for programs that
// parse it as an int.
int64_t MeasurementSeed(const std::string& tag, int64_t seq, int64_t index);
std::string FormatNumber(double value);
fs::path CacheDir();
fs::path Absolute(const fs::path& path, const fs::path& base);
// argv[0] as the kernel would find it, for pinning the evaluator's program.
std::optional<fs::path> ResolveProgram(const std::string& program);
AcceptanceRule RuleOf(const Spec& spec);
double StandardDeviation(const std::vector<double>& values);
void PruneArtifacts(const fs::path& measurement_dir);


// One seeded train + evaluate.
struct Measurement {
  MeasurementRow row;
  std::string reason;  // why it failed, one line; "" when ok
  fs::path log_dir;
};

class Controller {
 public:
  Controller(const RunOptions& options, ProcessRunner& runner, const InterruptCounter& interrupts,
             Progress& progress)
      : options_(options), runner_(runner), interrupts_(interrupts), progress_(progress) {}

  RunSummary Run();

 private:
  void OpenEverything();
  void PrepareData();
  void OpenOrCreateRun();
  void Reconcile();
  void LoadHistory();
  void Calibrate();
  std::string StopReason(int64_t started) const;
  // Runs experiment `seq`; returns false if it was a duplicate (costs nothing).
  bool RunExperiment(int64_t seq);
  Measurement Measure(ExperimentRow& experiment, const fs::path& worktree, MeasurementRole role,
                      const std::string& phase);
  void Finish(ExperimentRow& experiment, ExperimentStatus status, const std::string& reason);
  std::vector<double> UnbiasedSamples(int64_t experiment_id);
  void PruneArtifacts(int64_t seq);
  // options_.after_decision, if set.
  void AfterDecision() {
    if (options_.after_decision) options_.after_decision(*store_, run_);
  }
  fs::path RunsDir() const { return RatchetDir(workspace_->dir()) / "runs" / tag_; }
  void Event(const std::string& level, const std::string& message);
  bool Interrupted() const { return interrupts_.load() >= 2; }
  // Puts the child in a pids cgroup of limits.processes (process_limit.h),
  // held by `limit` for the run; warns once where there is none.
  void BoundProcesses(RunRequest& request, std::optional<ProcessLimit>& limit);
  // What each child may see under the sandbox (docs/spec.md, "Sandbox").
  SandboxPolicy TrainPolicy(const fs::path& worktree, const fs::path& run_dir) const;
  SandboxPolicy EvaluatePolicy(const fs::path& worktree, const fs::path& run_dir) const;
  SandboxPolicy AgentPolicy() const;
  std::vector<fs::path> SandboxTools() const;
  // Runs the request under the sandbox when it is on (sandbox.h).
  void Contain(RunRequest& request, const SandboxPolicy& policy) const;

  const RunOptions& options_;
  ProcessRunner& runner_;
  const InterruptCounter& interrupts_;
  Progress& progress_;

  Spec spec_;
  std::string tag_;
  std::optional<Workspace> workspace_;
  std::unique_ptr<WorkspaceLock> lock_;
  std::optional<Store> store_;
  RunRow run_;
  Pins pins_;
  Vars base_vars_;
  std::unique_ptr<Proposer> proposer_;
  std::vector<HistoryEntry> history_;
  std::vector<HistoryEntry> prior_;  // earlier runs' history, with --warm-start
  std::vector<std::vector<double>> noise_groups_;  // repeats of one configuration each
  RunSummary summary_;
  double run_started_at_ = NowSeconds();
  bool sandboxed_ = false;
  bool warned_unbounded_ = false;
};

}  // namespace ratchet::internal

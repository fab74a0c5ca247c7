// Internals of the loop, shared by loop*.cc: the Controller that runs one
// ratchet, and the helpers its files share. Not part of the public API
// (that is loop.h).
#pragma once

#include <atomic>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
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
#include "ratchet/runner/slurm_job.h"
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
// Worker k builds its candidates in worktree slot k, reset to the best commit
// before each proposal.
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


// The lock a worker holds while it works on shared state (Controller::mu_).
using Lock = std::unique_lock<std::mutex>;

// A candidate waiting for the next free worker, ahead of new proposals: a
// winner's change carried onto a best that moved on while it was measured,
// or an experiment a dead controller left unfinished, run again.
struct QueuedCandidate {
  std::string parent;  // the commit `tree` was built on
  std::string tree;
  std::string description;
  std::string params_json;
};

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
  void Calibrate(Lock& lock);
  // Why no further experiment may start ("" if one may); a queued carry
  // ignores the experiment counts (its decision is already under way).
  std::string StopReason(bool carry) const;
  // One worker: experiments on worktree slot `slot` until a stop condition.
  void Worker(int64_t slot);
  // Runs one experiment: `queued` or a new proposal; returns false if it was
  // a duplicate (costs nothing).
  bool RunExperiment(int64_t slot, std::optional<QueuedCandidate> queued, Lock& lock);
  // Sets the proposal of a new experiment into the worktree; false when the
  // experiment ended there (recorded).
  bool Propose(ExperimentRow& experiment, const fs::path& worktree, const ExperimentRow& best,
               Lock& lock);
  // Checks out `queued` carried onto the best; false when it conflicts (recorded).
  bool Requeue(ExperimentRow& experiment, const QueuedCandidate& queued, int64_t slot,
               const ExperimentRow& best, fs::path& worktree);
  // A winner whose parent is no longer the best: its change merged onto the
  // best and queued, or dropped. Returns the reason's second half.
  std::string Carry(const ExperimentRow& winner, const ExperimentRow& best, int64_t slot);
  // The fallback for search proposers: the winner's config change applied
  // key by key to the best's config (MergeConfigs), in worktree `slot`; ""
  // when it changed more than the config or a key both ways.
  std::string MergeConfigOnto(const ExperimentRow& winner, const ExperimentRow& best, int64_t slot);
  Measurement Measure(ExperimentRow& experiment, const fs::path& worktree, MeasurementRole role,
                      const std::string& phase, Lock& lock);
  // The fingerprint of a node's hardware (HardwareInfo JSON from the
  // runner), recorded in the store's hardware table.
  std::string NodeFingerprint(const std::string& hardware_json);
  // Why `m` cannot be compared with the measurements of experiment `best_id`
  // (another hardware fingerprint), or "".
  std::string HardwareMismatch(int64_t best_id, const MeasurementRow& m);
  // runner_.RunSteps (or the Slurm runner's: one job) with the lock released;
  // before_step takes the lock itself.
  std::vector<RunResult> RunChildren(const std::vector<RunRequest>& steps,
                                     const std::function<void(size_t)>& before_step, Lock& lock);
  // The configs being measured now, for proposers (ProposalContext::pending).
  std::vector<HistoryEntry> Pending() const;
  void Finish(ExperimentRow& experiment, ExperimentStatus status, const std::string& reason);
  std::vector<double> UnbiasedSamples(int64_t experiment_id);
  void PruneArtifacts(int64_t seq);
  // options_.after_decision, if set.
  void AfterDecision() {
    if (options_.after_decision) options_.after_decision(*store_, run_);
  }
  fs::path RunsDir() const { return RatchetDir(workspace_->dir()) / "runs" / tag_; }
  void Event(const std::string& level, const std::string& message);
  // Ctrl-C twice, or another worker hit an infrastructure failure.
  bool Interrupted() const { return interrupts_.load() >= 2 || failure_ != nullptr; }
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
  std::string host_;      // this machine's name, for measurements run here
  std::string hardware_;  // its fingerprint

  // Parallel runs. mu_ guards every member, the store, git, the proposer and
  // the progress line; a worker releases it only while a child runs.
  int parallel_ = 1;
  SlurmOptions slurm_options_;
  std::unique_ptr<ProcessRunner> slurm_runner_;  // --backend slurm: runs train and evaluate
  std::mutex mu_;
  std::deque<QueuedCandidate> queue_;
  struct InFlight {
    std::string tree;  // "" until proposed
    HistoryEntry entry;
  };
  std::map<int64_t, InFlight> in_flight_;  // by seq
  int64_t started_ = 0;                    // experiments started by this invocation
  int duplicates_in_a_row_ = 0;
  bool stopping_ = false;  // a worker said stop (failure, endless duplicates)
  std::exception_ptr failure_;
};

}  // namespace ratchet::internal

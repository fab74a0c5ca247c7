// The ratchet loop: propose → apply → commit → train → evaluate → decide →
// record, only ever moving the branch ratchet/<tag> forward to a measured
// improvement. With `parallel` K > 1, K workers each run experiments on
// their own worktree slot; they share one lock over the store, git and the
// proposer, released only while a child runs. A candidate that wins after
// its parent stopped being the best is not accepted: its change is merged
// onto the new best and measured again as a new experiment.
//
// Every state change is written to the store before the action it announces,
// so a controller killed at any instant resumes with `ratchet run` on the
// same spec, workspace and tag: unfinished experiments are recorded as
// interrupted, their worktrees removed, refs and the branch reconciled with
// the store, and the loop continues with the next sequence number.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ratchet/loop/progress.h"
#include "ratchet/runner/runner.h"

namespace ratchet {

class Store;
struct RunRow;

struct RunOptions {
  std::filesystem::path spec_path;
  std::filesystem::path workspace;
  std::string tag;                // empty: the spec's name
  int64_t max_experiments = 0;    // experiments started by this invocation; 0: no limit
  double hours = 0;               // stop starting experiments after this long; 0: no limit
  std::optional<double> until;    // UNIX time after which no experiment starts
  std::filesystem::path bin_dir;  // {bin_dir}: where ratchet-train & co. live
  std::optional<double> budget;   // replaces the spec's budget amount (seconds or tokens)
  // Proposers also get the history of earlier runs of the same spec on the
  // same hardware (warm_start.h) as ProposalContext::prior.
  bool warm_start = false;
  // Children run without the spec's sandbox (recorded as a warning in the
  // run's event log).
  bool no_sandbox = false;
  // Candidates in flight at once; 0: the spec's `parallel` (default 1).
  int parallel = 0;
  // "local" or "slurm"; "": the spec's backend.kind (default local).
  std::string backend;
  // Called after the baseline's calibration and after every later experiment
  // with the store and the run (the CLI rewrites results.tsv there); none if empty.
  std::function<void(const Store&, const RunRow&)> after_decision;
};

// Incremented by the signal handler: 1 = finish the current experiment and
// stop; 2 or more = kill it, record it as interrupted, stop.
using InterruptCounter = std::atomic<int>;

struct RunSummary {
  std::string tag;
  int64_t experiments = 0;  // started by this invocation, duplicates excluded
  int64_t accepted = 0;
  std::optional<double> baseline_metric;
  std::optional<double> best_metric;
  std::string best_commit;
  std::string stop_reason;
};

// Runs (or resumes) the ratchet described by `options`. Throws Error when the
// infrastructure breaks (bad spec, evaluator changed, store or git failure);
// what was recorded before stays recorded.
RunSummary RunRatchet(const RunOptions& options, ProcessRunner& runner,
                      const InterruptCounter& interrupts, Progress& progress);

// <workspace>/.ratchet: the store, logs, worktrees and the lock.
std::filesystem::path RatchetDir(const std::filesystem::path& workspace);
std::filesystem::path StorePath(const std::filesystem::path& workspace);

// How the reason of a stale winner (`--parallel`) ends when its change was
// merged onto the new best and queued to be measured again; the history
// reads it back (HistoryEntry::carried), also on resume, from the reason.
inline constexpr std::string_view kCarriedReasonEnd = "is measured again as a new experiment";
inline bool IsCarriedReason(std::string_view reason) {
  return reason.size() >= kCarriedReasonEnd.size() &&
         reason.substr(reason.size() - kCarriedReasonEnd.size()) == kCarriedReasonEnd;
}

}  // namespace ratchet

// The loop itself: experiments one after another until a stop condition,
// each proposed, applied, measured, decided and recorded.
#include "ratchet/loop/loop.h"

#include <spdlog/fmt/fmt.h>

#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop_internal.h"
#include "ratchet/git/path_policy.h"
#include "ratchet/propose/search_proposer.h"
#include "ratchet/runner/runner.h"
#include "ratchet/loop/warm_start.h"

namespace ratchet {

namespace fs = std::filesystem;

std::filesystem::path RatchetDir(const std::filesystem::path& workspace) {
  return workspace / ".ratchet";
}

std::filesystem::path StorePath(const std::filesystem::path& workspace) {
  return RatchetDir(workspace) / "store.db";
}

namespace internal {

std::string Controller::StopReason(bool carry) const {
  if (interrupts_.load() >= 1) return "interrupted";
  if (!carry && options_.max_experiments > 0 && started_ >= options_.max_experiments) {
    return "reached --max-experiments " + std::to_string(options_.max_experiments);
  }
  if (!carry && spec_.limits.max_experiments > 0 &&
      static_cast<int64_t>(history_.size() + in_flight_.size()) > spec_.limits.max_experiments) {
    return "reached the spec's max_experiments";
  }
  double now = NowSeconds();
  if (options_.hours > 0 && now >= run_started_at_ + options_.hours * 3600) return "reached --hours";
  if (options_.until && now >= *options_.until) return "reached --until";
  return "";
}

std::vector<HistoryEntry> Controller::Pending() const {
  std::vector<HistoryEntry> pending;
  for (const auto& [seq, flight] : in_flight_) {
    if (!flight.tree.empty()) pending.push_back(flight.entry);
  }
  return pending;
}

bool Controller::Propose(ExperimentRow& experiment, const fs::path& worktree,
                         const ExperimentRow& best, Lock& lock) {
  // A slow proposer (an agent, an LLM) works on a snapshot of the history
  // with the lock released, so the other workers record meanwhile.
  const bool slow = parallel_ > 1 && !IsSearchProposerKind(spec_.proposer.kind);
  std::vector<HistoryEntry> snapshot;
  if (slow) snapshot = history_;
  ProposalContext context{spec_,    experiment.seq, ProposalSeed(spec_.proposer.seed, experiment.seq),
                          worktree, nlohmann::json::parse(best.params_json, nullptr, false),
                          slow ? snapshot : history_, best.metric};
  context.prior = prior_;
  context.pending = Pending();
  const SandboxPolicy agent_policy = AgentPolicy();
  if (sandboxed_) context.sandbox = &agent_policy;
  Proposal proposal;
  // Agent and LLM proposers report what they were asked and what came back;
  // it is stored with the experiment (`ratchet show N`), for a failed
  // proposal too. A proposer's notes (e.g. a plateau widening the step) go to
  // the run's event log.
  auto keep_exchange = [&](const std::string& prompt, const std::string& reply) {
    if (prompt.empty() && reply.empty()) return;
    store_->SetExchange(experiment.id, prompt, reply);
  };
  try {
    if (slow) lock.unlock();
    try {
      proposal = proposer_->Propose(context);
    } catch (...) {
      if (slow) lock.lock();
      throw;
    }
    if (slow) lock.lock();
  } catch (const ProposalError& error) {
    keep_exchange(error.prompt(), error.reply());
    Finish(experiment, ExperimentStatus::kInvalid, std::string("proposer failed: ") + error.what());
    return false;
  } catch (const Error& error) {
    Finish(experiment, ExperimentStatus::kInvalid, std::string("proposer failed: ") + error.what());
    return false;
  }
  keep_exchange(proposal.prompt, proposal.reply);
  for (const std::string& note : proposal.notes) Event("info", note);
  experiment.description = proposal.description;
  experiment.params_json = proposal.params.is_null() ? "{}" : proposal.params.dump();

  ChangeSet changes = workspace_->Changes(worktree, *best.commit);
  if (changes.paths.empty()) {
    Finish(experiment, ExperimentStatus::kInvalid, "the proposal changed nothing");
    return false;
  }
  if (auto violation = CheckChanges(changes, spec_.mutable_globs)) {
    Finish(experiment, ExperimentStatus::kInvalid, *violation);
    return false;
  }
  // Only the tree is written now. The candidate's commit, with its outcome in
  // the trailers, and its ref are made once, by Finish (each git object or
  // ref costs a file); the store holds tree and parent until then, so
  // Reconcile can finish an experiment a kill interrupted.
  experiment.tree = workspace_->WriteCandidateTree(worktree, *best.commit);
  experiment.diff_stat = changes.stat;
  return true;
}

bool Controller::Requeue(ExperimentRow& experiment, const QueuedCandidate& queued, int64_t slot,
                         const ExperimentRow& best, fs::path& worktree) {
  experiment.description = queued.description;
  experiment.params_json = queued.params_json;
  std::string tree = queued.tree;
  if (queued.parent != *best.commit) {
    tree = workspace_->MergeOnto(queued.parent, queued.tree, *best.commit);
    if (tree.empty()) {
      Finish(experiment, ExperimentStatus::kInvalid,
             "its change conflicts with the best's (experiment " + std::to_string(best.seq) +
                 "): dropped");
      return false;
    }
  }
  // The worktree gets the files through a commit of the tree; Finish makes
  // the candidate's own commit, with its outcome, as for any other.
  const std::string checkout = workspace_->CommitTree(tree, *best.commit, queued.description);
  worktree = workspace_->ResetCandidate(tag_, slot, checkout);
  if (!spec_.proposer.config.empty() && IsSearchProposerKind(spec_.proposer.kind)) {
    experiment.params_json =
        nlohmann::json::parse(workspace_->ReadFileAt(checkout, spec_.proposer.config), nullptr, false)
            .dump();
  }
  experiment.tree = tree;
  experiment.diff_stat = workspace_->DiffStat(*best.commit, checkout);
  return true;
}

std::string Controller::MergeConfigOnto(const ExperimentRow& winner, const ExperimentRow& best,
                                        int64_t slot) {
  const std::string& config = spec_.proposer.config;
  if (config.empty() || !IsSearchProposerKind(spec_.proposer.kind)) return "";
  const std::string changed = workspace_->CommitTree(*winner.tree, winner.parent_commit, "carry");
  // Only when the config is all it changed.
  if (workspace_->DiffStat(winner.parent_commit, changed).rfind("1 file changed", 0) != 0 ||
      workspace_->ReadFileAt(winner.parent_commit, config) == workspace_->ReadFileAt(changed, config)) {
    return "";
  }
  auto parse = [&](const std::string& commit) {
    return nlohmann::json::parse(workspace_->ReadFileAt(commit, config), nullptr, false);
  };
  std::optional<nlohmann::ordered_json> merged = MergeConfigs(
      spec_.search_space, parse(winner.parent_commit),
      nlohmann::ordered_json::parse(workspace_->ReadFileAt(*best.commit, config), nullptr, false),
      parse(changed));
  if (!merged) return "";
  const fs::path worktree = workspace_->ResetCandidate(tag_, slot, *best.commit);
  WriteFileFresh(worktree / config, merged->dump(2) + "\n");
  return workspace_->WriteCandidateTree(worktree, *best.commit);
}

std::string Controller::Carry(const ExperimentRow& winner, const ExperimentRow& best,
                              int64_t slot) {
  // Its win over its parent is evidence for its change, whatever it scored
  // against the new best: the change goes on top of the new best and is
  // judged there.
  const std::string best_name = "experiment " + std::to_string(best.seq);
  std::string tree = workspace_->MergeOnto(winner.parent_commit, *winner.tree, *best.commit);
  if (tree.empty()) tree = MergeConfigOnto(winner, best, slot);
  const std::string stale = "its parent is no longer the best (" + best_name + " is)";
  if (tree.empty()) return stale + " and its change conflicts with " + best_name + "'s: dropped";
  if (tree == workspace_->TreeOf(*best.commit)) {
    return stale + " and " + best_name + " already holds its change: dropped";
  }
  queue_.push_back({*best.commit, tree,
                    winner.description + " (carried from " + std::to_string(winner.seq) +
                        " onto " + std::to_string(best.seq) + ")",
                    winner.params_json});
  return stale + ": its change, merged onto " + best_name + ", " + std::string(kCarriedReasonEnd);
}

bool Controller::RunExperiment(int64_t slot, std::optional<QueuedCandidate> queued, Lock& lock) {
  std::optional<ExperimentRow> best = store_->BestAccepted(run_.id);
  if (!best || !best->commit) {
    throw Error(store_->path().string() + ": run has no accepted baseline");
  }
  ExperimentRow experiment;
  experiment.run_id = run_.id;
  experiment.seq = store_->NextSeq(run_.id);
  experiment.parent_commit = *best->commit;
  experiment.proposer = spec_.proposer.kind;
  experiment.status = ExperimentStatus::kProposed;
  experiment.phase = "propose";
  experiment.started_at = NowSeconds();
  experiment.id = store_->InsertExperiment(experiment);
  const int64_t seq = experiment.seq;
  in_flight_[seq] = {};
  struct Landed {  // leaves in_flight_ however the experiment ends (the lock is held then)
    std::map<int64_t, InFlight>& flights;
    int64_t seq;
    ~Landed() { flights.erase(seq); }
  } landed{in_flight_, seq};
  progress_.Phase(seq, "propose", summary_.best_metric);

  fs::path worktree;
  if (queued) {
    if (!Requeue(experiment, *queued, slot, *best, worktree)) return true;
  } else {
    worktree = workspace_->ResetCandidate(tag_, slot, *best->commit);
    if (!Propose(experiment, worktree, *best, lock)) return true;
  }
  store_->UpdateExperiment(experiment);
  if (auto same = store_->FindEvaluatedTree(run_.id, *experiment.tree)) {
    Finish(experiment, ExperimentStatus::kDuplicate,
           "same files as experiment " + std::to_string(*same));
    return false;
  }
  for (const auto& [other, flight] : in_flight_) {
    if (other != seq && flight.tree == *experiment.tree) {
      Finish(experiment, ExperimentStatus::kDuplicate,
             "same files as experiment " + std::to_string(other) + " (being measured)");
      return false;
    }
  }
  InFlight& flight = in_flight_[seq];
  flight.tree = *experiment.tree;
  flight.entry.seq = seq;
  flight.entry.status = "pending";
  flight.entry.params = nlohmann::json::parse(experiment.params_json, nullptr, false);
  flight.entry.description = experiment.description;

  AcceptanceRule rule = RuleOf(spec_);
  std::vector<double> best_samples = UnbiasedSamples(best->id);
  auto measurement_failed = [&](const Measurement& m) {
    ExperimentStatus status = ExperimentStatus::kCrashed;
    if (m.row.status == MeasurementStatus::kTimeout) status = ExperimentStatus::kTimeout;
    if (m.row.status == MeasurementStatus::kInterrupted) status = ExperimentStatus::kInterrupted;
    if (m.row.status == MeasurementStatus::kInvalid) status = ExperimentStatus::kInvalid;
    experiment.exit_code = m.row.exit_code;
    experiment.term_signal = m.row.term_signal;
    experiment.log_tail = ReadLogTail(m.log_dir / "train.err", kLogTailBytes);
    Finish(experiment, status, m.reason);
  };
  // Numbers from two kinds of hardware are not one comparison.
  auto mixes_hardware = [&](const Measurement& m) {
    std::string why = HardwareMismatch(best->id, m.row);
    if (!why.empty()) Finish(experiment, ExperimentStatus::kInvalid, why);
    return !why.empty();
  };
  Measurement first = Measure(experiment, worktree, MeasurementRole::kCandidate, "measure", lock);
  if (first.row.status != MeasurementStatus::kOk) {
    measurement_failed(first);
    return true;
  }
  if (mixes_hardware(first)) return true;
  std::vector<double> all = {*first.row.metric};
  experiment.train_seconds = first.row.train_seconds;
  experiment.tokens = first.row.tokens;
  experiment.peak_rss_kb = first.row.peak_rss_kb;
  experiment.exit_code = first.row.exit_code;

  Verdict verdict = DecideFirst(rule, best_samples, *first.row.metric, PooledNoise(noise_groups_));
  const Verdict gate = verdict;
  // confirm: fresh seeds one at a time, so a futility stop saves the rest.
  int repeats = std::max(1, spec_.acceptance.repeats);
  std::vector<double> fresh;
  while (verdict.kind == Verdict::Kind::kMeasureMore) {
    int planned = (static_cast<int>(fresh.size()) / repeats + 1) * repeats;
    std::string phase =
        "confirm " + std::to_string(fresh.size() + 1) + "/" + std::to_string(planned);
    Measurement again = Measure(experiment, worktree, MeasurementRole::kConfirm, phase, lock);
    if (again.row.status != MeasurementStatus::kOk) {
      again.reason = "on re-measurement: " + again.reason;
      measurement_failed(again);
      return true;
    }
    if (mixes_hardware(again)) return true;
    fresh.push_back(*again.row.metric);
    all.push_back(*again.row.metric);
    verdict = DecideFresh(rule, best_samples, gate, fresh, PooledNoise(noise_groups_, fresh),
                          repeats);
  }
  if (fresh.size() >= 2) noise_groups_.push_back(fresh);
  // The recorded metric is the unbiased one where there is one.
  experiment.metric = Mean(fresh.empty() ? all : fresh);
  experiment.spread = StandardDeviation(all);
  experiment.n_measurements = static_cast<int64_t>(all.size());
  experiment.decision_json = verdict.numbers.dump();
  bool accepted = verdict.kind == Verdict::Kind::kAccept;
  if (accepted) {
    // Another worker may have moved the best while this one measured: a win
    // over an old best says nothing about the change on top of the new one.
    std::optional<ExperimentRow> now_best = store_->BestAccepted(run_.id);
    if (now_best && now_best->commit && *now_best->commit != experiment.parent_commit) {
      Finish(experiment, ExperimentStatus::kRejected,
             verdict.reason + "; but " + Carry(experiment, *now_best, slot));
      return true;
    }
  }
  Finish(experiment, accepted ? ExperimentStatus::kAccepted : ExperimentStatus::kRejected,
         verdict.reason);
  return true;
}

// accepted ones are worth the disk.
void Controller::PruneArtifacts(int64_t seq) {
  // Its measurements are <seq>.0, <seq>.1, ... without gaps (Measure numbers
  // them by count); naming them spares listing a folder that grows all night.
  for (int64_t index = 0;; ++index) {
    fs::path dir = RunsDir() / (std::to_string(seq) + "." + std::to_string(index));
    std::error_code error;
    if (!fs::is_directory(dir, error)) break;
    internal::PruneArtifacts(dir);
  }
}

// Records the outcome, then brings git in line: the store is written first,
// so a kill between the two is repaired by Reconcile.
void Controller::Finish(ExperimentRow& experiment, ExperimentStatus status,
                        const std::string& reason) {
  experiment.status = status;
  experiment.reason = reason;
  experiment.phase = "";
  experiment.pgid.reset();
  experiment.ended_at = NowSeconds();
  bool accepted = status == ExperimentStatus::kAccepted;
  std::vector<std::pair<std::string, std::string>> trailers = {
      {"Ratchet-Status", std::string(ToString(status))}};
  if (experiment.metric) {
    trailers.push_back(
        {"Ratchet-Metric", spec_.metric.name + "=" + FormatNumber(*experiment.metric)});
  }
  if (experiment.commit) {  // committed before its outcome (stores of older versions)
    experiment.commit = workspace_->Recommit(
        *experiment.commit, AppendTrailers(workspace_->Message(*experiment.commit), trailers));
  } else if (experiment.tree) {
    trailers.insert(trailers.begin(), {{"Ratchet-Run", tag_},
                                       {"Ratchet-Seq", std::to_string(experiment.seq)}});
    experiment.commit = workspace_->CommitTree(*experiment.tree, experiment.parent_commit,
                                               AppendTrailers(experiment.description, trailers));
  }
  {
    Store::Transaction transaction(*store_);
    store_->UpdateExperiment(experiment);
    if (accepted) store_->SetBestCommit(run_.id, *experiment.commit);
    transaction.Commit();
  }
  if (experiment.commit) workspace_->SetCandidateRef(tag_, experiment.seq, *experiment.commit);
  if (!accepted) PruneArtifacts(experiment.seq);
  if (accepted) {
    workspace_->AdvanceBranch(tag_, *experiment.commit);
    run_.best_commit = experiment.commit;
    summary_.best_metric = experiment.metric;
    summary_.best_commit = *experiment.commit;
    ++summary_.accepted;
  }

  HistoryEntry entry;
  entry.seq = experiment.seq;
  entry.status = std::string(ToString(status));
  entry.metric = experiment.metric;
  entry.params = nlohmann::json::parse(experiment.params_json, nullptr, false);
  entry.description = experiment.description;
  entry.reason = reason;
  entry.carried = IsCarriedReason(reason);
  history_.push_back(entry);

  std::string metric = experiment.metric ? fmt::format("{:.6g}", *experiment.metric) : "-";
  progress_.Line(fmt::format("[{}] {:<11} {:>10}  {}{}", experiment.seq, ToString(status), metric,
                             experiment.description,
                             reason.empty() ? "" : "  (" + reason + ")"));
}

void Controller::Worker(int64_t slot) {
  Lock lock(mu_);
  try {
    while (!stopping_) {
      std::optional<QueuedCandidate> queued;
      std::string stop = StopReason(!queue_.empty());
      if (!stop.empty()) {
        if (summary_.stop_reason.empty()) summary_.stop_reason = stop;
        break;
      }
      if (!queue_.empty()) {
        queued = queue_.front();
        queue_.pop_front();
      }
      ++started_;
      const bool counted = RunExperiment(slot, std::move(queued), lock);
      AfterDecision();
      if (counted) {
        ++summary_.experiments;
        duplicates_in_a_row_ = 0;
      } else {
        --started_;  // duplicates cost nothing
        if (++duplicates_in_a_row_ >= kMaxDuplicatesInARow) {
          // Duplicates cost no budget, so a proposer that only repeats itself
          // would otherwise spin forever.
          summary_.stop_reason = "the proposer repeated evaluated candidates " +
                                 std::to_string(duplicates_in_a_row_) + " times in a row";
          stopping_ = true;
        }
      }
    }
  } catch (...) {
    // The other workers see Interrupted() and stop their children.
    if (!failure_) failure_ = std::current_exception();
    stopping_ = true;
  }
}

RunSummary Controller::Run() {
  Lock lock(mu_);
  OpenEverything();
  PrepareData();
  OpenOrCreateRun();
  summary_.tag = tag_;
  Reconcile();
  Calibrate(lock);
  AfterDecision();
  LoadHistory();
  if (options_.warm_start) {
    prior_ = WarmStartHistory(*store_, run_);
    Event("info", "warm start: " + std::to_string(prior_.size()) + " experiments of earlier runs of '" +
                      spec_.name + "' on this hardware");
  }
  if (auto best = store_->BestAccepted(run_.id)) {
    summary_.best_metric = best->metric;
    summary_.best_commit = best->commit.value_or("");
  }
  summary_.baseline_metric = run_.baseline_metric;

  lock.unlock();
  if (parallel_ == 1) {
    Worker(0);
  } else {
    // PosixProcessRunner's children die with the thread that started them
    // (PDEATHSIG), so every worker outlives its children: each is joined.
    std::vector<std::thread> workers;
    for (int64_t slot = 0; slot < parallel_; ++slot) workers.emplace_back([this, slot] { Worker(slot); });
    for (std::thread& worker : workers) worker.join();
  }
  lock.lock();
  if (failure_) std::rethrow_exception(failure_);
  for (int64_t slot = 0; slot < parallel_; ++slot) workspace_->RemoveCandidate(tag_, slot);
  store_->SetRunState(run_.id, RunState::kStopped);
  store_->AddEvent(run_.id, "info", "stopped: " + summary_.stop_reason);
  progress_.Finish();
  return summary_;
}

}  // namespace internal

RunSummary RunRatchet(const RunOptions& options, ProcessRunner& runner,
                      const InterruptCounter& interrupts, Progress& progress) {
  internal::Controller controller(options, runner, interrupts, progress);
  return controller.Run();
}

}  // namespace ratchet

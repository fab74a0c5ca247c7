// The loop itself: experiments one after another until a stop condition,
// each proposed, applied, measured, decided and recorded.
#include "ratchet/loop/loop.h"

#include <spdlog/fmt/fmt.h>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop_internal.h"
#include "ratchet/git/path_policy.h"
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

std::string Controller::StopReason(int64_t started) const {
  if (interrupts_.load() >= 1) return "interrupted";
  if (options_.max_experiments > 0 && started >= options_.max_experiments) {
    return "reached --max-experiments " + std::to_string(options_.max_experiments);
  }
  if (spec_.limits.max_experiments > 0 &&
      static_cast<int64_t>(history_.size()) > spec_.limits.max_experiments) {
    return "reached the spec's max_experiments";
  }
  double now = NowSeconds();
  if (options_.hours > 0 && now >= run_started_at_ + options_.hours * 3600) return "reached --hours";
  if (options_.until && now >= *options_.until) return "reached --until";
  return "";
}

bool Controller::RunExperiment(int64_t seq) {
  std::optional<ExperimentRow> best = store_->BestAccepted(run_.id);
  if (!best || !best->commit) {
    throw Error(store_->path().string() + ": run has no accepted baseline");
  }
  ExperimentRow experiment;
  experiment.run_id = run_.id;
  experiment.seq = seq;
  experiment.parent_commit = *best->commit;
  experiment.proposer = spec_.proposer.kind;
  experiment.status = ExperimentStatus::kProposed;
  experiment.phase = "propose";
  experiment.started_at = NowSeconds();
  experiment.id = store_->InsertExperiment(experiment);
  progress_.Phase(seq, "propose", summary_.best_metric);

  fs::path worktree = workspace_->ResetCandidate(tag_, kCandidateSlot, *best->commit);
  ProposalContext context{spec_,    seq, ProposalSeed(spec_.proposer.seed, seq),
                          worktree, nlohmann::json::parse(best->params_json, nullptr, false),
                          history_, best->metric};
  context.prior = prior_;
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
    proposal = proposer_->Propose(context);
  } catch (const ProposalError& error) {
    keep_exchange(error.prompt(), error.reply());
    Finish(experiment, ExperimentStatus::kInvalid, std::string("proposer failed: ") + error.what());
    return true;
  } catch (const Error& error) {
    Finish(experiment, ExperimentStatus::kInvalid, std::string("proposer failed: ") + error.what());
    return true;
  }
  keep_exchange(proposal.prompt, proposal.reply);
  for (const std::string& note : proposal.notes) Event("info", note);
  experiment.description = proposal.description;
  experiment.params_json = proposal.params.is_null() ? "{}" : proposal.params.dump();

  ChangeSet changes = workspace_->Changes(worktree, *best->commit);
  if (changes.paths.empty()) {
    Finish(experiment, ExperimentStatus::kInvalid, "the proposal changed nothing");
    return true;
  }
  if (auto violation = CheckChanges(changes, spec_.mutable_globs)) {
    Finish(experiment, ExperimentStatus::kInvalid, *violation);
    return true;
  }
  // Only the tree is written now. The candidate's commit, with its outcome in
  // the trailers, and its ref are made once, by Finish (each git object or
  // ref costs a file); the store holds tree and parent until then, so
  // Reconcile can finish an experiment a kill interrupted.
  experiment.tree = workspace_->WriteCandidateTree(worktree, *best->commit);
  experiment.diff_stat = changes.stat;
  store_->UpdateExperiment(experiment);
  if (auto same = store_->FindEvaluatedTree(run_.id, *experiment.tree)) {
    Finish(experiment, ExperimentStatus::kDuplicate,
           "same files as experiment " + std::to_string(*same));
    return false;
  }

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
  Measurement first = Measure(experiment, worktree, MeasurementRole::kCandidate, "measure");
  if (first.row.status != MeasurementStatus::kOk) {
    measurement_failed(first);
    return true;
  }
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
    Measurement again = Measure(experiment, worktree, MeasurementRole::kConfirm, phase);
    if (again.row.status != MeasurementStatus::kOk) {
      again.reason = "on re-measurement: " + again.reason;
      measurement_failed(again);
      return true;
    }
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
  history_.push_back(entry);

  std::string metric = experiment.metric ? fmt::format("{:.6g}", *experiment.metric) : "-";
  progress_.Line(fmt::format("[{}] {:<11} {:>10}  {}{}", experiment.seq, ToString(status), metric,
                             experiment.description,
                             reason.empty() ? "" : "  (" + reason + ")"));
}

RunSummary Controller::Run() {
  OpenEverything();
  PrepareData();
  OpenOrCreateRun();
  summary_.tag = tag_;
  Reconcile();
  Calibrate();
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

  int64_t started = 0;
  int duplicates_in_a_row = 0;
  while (true) {
    summary_.stop_reason = StopReason(started);
    if (!summary_.stop_reason.empty()) break;
    const bool counted = RunExperiment(store_->NextSeq(run_.id));
    AfterDecision();
    if (counted) {
      ++started;
      ++summary_.experiments;
      duplicates_in_a_row = 0;
    } else if (++duplicates_in_a_row >= kMaxDuplicatesInARow) {
      // Duplicates cost no budget, so a proposer that only repeats itself
      // would otherwise spin forever.
      summary_.stop_reason = "the proposer repeated evaluated candidates " +
                             std::to_string(duplicates_in_a_row) + " times in a row";
      break;
    }
  }
  workspace_->RemoveCandidate(tag_, kCandidateSlot);
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

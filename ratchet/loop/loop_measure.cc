// Measuring: one seeded train + evaluate, and the baseline's calibration.
#include <spdlog/fmt/fmt.h>

#include <cmath>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop_internal.h"
#include "ratchet/loop/metric_reader.h"
#include "ratchet/runner/runner.h"
#include "ratchet/store/hardware.h"

namespace ratchet::internal {

std::vector<double> Controller::UnbiasedSamples(int64_t experiment_id) {
  std::vector<double> unbiased, all;
  for (const MeasurementRow& m : store_->ListMeasurements(experiment_id)) {
    if (m.status != MeasurementStatus::kOk || !m.metric) continue;
    all.push_back(*m.metric);
    if (m.role == MeasurementRole::kCalibration || m.role == MeasurementRole::kConfirm) {
      unbiased.push_back(*m.metric);
    }
  }
  return unbiased.empty() ? all : unbiased;
}

std::string Controller::NodeFingerprint(const std::string& hardware_json) {
  nlohmann::json json = nlohmann::json::parse(hardware_json, nullptr, false);
  try {
    HardwareInfo node = HardwareInfo::FromJson(json);
    store_->UpsertHardware(node);
    return node.Fingerprint();
  } catch (const Error& error) {
    Event("warning", std::string("a node's hardware probe said nothing usable: ") + error.what());
    return "";
  }
}

std::string Controller::HardwareMismatch(int64_t best_id, const MeasurementRow& m) {
  if (!m.hardware || m.hardware->empty()) return "";
  for (const MeasurementRow& other : store_->ListMeasurements(best_id)) {
    if (other.status != MeasurementStatus::kOk || !other.hardware || other.hardware->empty()) continue;
    if (*other.hardware != *m.hardware) {
      return "measured on hardware " + *m.hardware + " (" + m.host.value_or("?") +
             "), the best on " + *other.hardware + " (" + other.host.value_or("?") +
             "): not comparable (keep a run on one kind of node, e.g. backend.slurm.extra_args "
             "[\"--constraint=...\"])";
    }
  }
  return "";
}

std::vector<RunResult> Controller::RunChildren(const std::vector<RunRequest>& steps,
                                               const std::function<void(size_t)>& before_step,
                                               Lock& lock) {
  ProcessRunner& runner = slurm_runner_ ? *slurm_runner_ : runner_;
  lock.unlock();
  std::vector<RunResult> results;
  try {
    results = runner.RunSteps(steps, before_step);
  } catch (...) {
    lock.lock();
    throw;
  }
  lock.lock();
  return results;
}

Measurement Controller::Measure(ExperimentRow& experiment, const fs::path& worktree,
                                MeasurementRole role, const std::string& phase, Lock& lock) {
  int64_t index = static_cast<int64_t>(store_->ListMeasurements(experiment.id).size());
  Measurement m;
  m.row.experiment_id = experiment.id;
  m.row.role = role;
  m.row.repeat = index;
  m.row.seed = MeasurementSeed(tag_, experiment.seq, index);
  m.log_dir = RunsDir() / (std::to_string(experiment.seq) + "." + std::to_string(index));
  fs::remove_all(m.log_dir);
  fs::create_directories(m.log_dir);

  Vars vars = base_vars_;
  vars.erase("data_dir");  // the train command never sees the held-out data
  vars["workspace"] = worktree.string();
  vars["run_dir"] = m.log_dir.string();
  vars["seed"] = std::to_string(m.row.seed);

  m.row.started_at = NowSeconds();
  m.row.host = host_;
  m.row.hardware = hardware_;
  // The runner calls these while the lock is released.
  auto record_pgid = [&](pid_t pgid) {
    std::lock_guard<std::mutex> guard(mu_);
    experiment.pgid = pgid;
    store_->UpdateExperiment(experiment);
  };
  std::vector<std::string> jobs;  // of this measurement, train's then evaluate's
  auto record_job = [&](const std::string& job_id, const std::string& node) {
    std::lock_guard<std::mutex> guard(mu_);
    if (jobs.empty() || jobs.back() != job_id) jobs.push_back(job_id);
    experiment.job_id = job_id;
    if (!node.empty()) m.row.host = node;
    store_->UpdateExperiment(experiment);
  };
  auto should_abort = [&] {
    std::lock_guard<std::mutex> guard(mu_);
    progress_.Tick();
    return Interrupted();
  };
  // A train or evaluate child: its logs <stem>.out/.err in the run folder,
  // the spec's memory and log limits, its group recorded, Ctrl-C obeyed.
  auto child = [&](const std::string& stem, const fs::path& cwd, double timeout_seconds) {
    RunRequest request;
    request.cwd = cwd;
    request.stdout_path = m.log_dir / (stem + ".out");
    request.stderr_path = m.log_dir / (stem + ".err");
    request.timeout_seconds = timeout_seconds;
    request.memory_limit_bytes = spec_.limits.memory_mb << 20;
    request.log_cap_bytes = spec_.limits.log_bytes;
    request.on_start = record_pgid;
    request.on_job = record_job;
    request.should_abort = should_abort;
    return request;
  };
  // Where it ran, as the runner saw it: a Slurm node reports its hardware.
  auto note_placement = [&](const RunResult& result) {
    if (!result.node.empty()) m.row.host = result.node;
    if (!result.hardware_json.empty()) m.row.hardware = NodeFingerprint(result.hardware_json);
    if (!jobs.empty()) {
      std::string ids;
      for (const std::string& job : jobs) ids += (ids.empty() ? "" : " ") + job;
      m.row.job_id = ids;
    }
    experiment.job_id.reset();
  };
  auto fail = [&](MeasurementStatus status, const std::string& reason) {
    // A failed measurement's output is useless, and may be what filled the
    // disk: free it before recording anything.
    internal::PruneArtifacts(m.log_dir);
    m.row.status = status;
    m.reason = reason;
    m.row.ended_at = NowSeconds();
    experiment.pgid.reset();
    store_->AddMeasurement(m.row);
    return m;
  };
  auto failure_reason = [&](const char* what, const RunResult& result, const fs::path& err) {
    std::string tail = ReadLogTail(err, 400);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    size_t last_line = tail.rfind('\n');
    if (last_line != std::string::npos) tail = tail.substr(last_line + 1);
    std::string reason = std::string(what) + " " + result.Describe();
    if (!result.error.empty()) reason += " (" + result.error + ")";
    return reason + (tail.empty() ? "" : ": " + tail);
  };

  experiment.status = ExperimentStatus::kRunning;
  experiment.phase = phase + " train";
  store_->UpdateExperiment(experiment);
  PhaseBudget budget;
  if (spec_.budget.kind == Budget::Kind::kTime) budget.seconds = spec_.budget.seconds;
  if (spec_.budget.kind == Budget::Kind::kTokens) budget.tokens = spec_.budget.tokens;
  progress_.Phase(experiment.seq, experiment.phase, summary_.best_metric, budget,
                  m.log_dir / "train.out");

  // Both children are planned up front: under Slurm they run as one job.
  RunRequest train = child("train", worktree, TrainDeadlineSeconds(spec_));
  train.argv = Substitute(spec_.train.argv, vars);
  Contain(train, TrainPolicy(worktree, m.log_dir));
  std::optional<ProcessLimit> train_pids;
  BoundProcesses(train, train_pids);
  Vars eval_vars = vars;
  eval_vars["data_dir"] = base_vars_.count("data_dir") ? base_vars_.at("data_dir") : "";
  RunRequest evaluate = child(
      "eval", m.log_dir, spec_.evaluate.timeout_seconds > 0 ? spec_.evaluate.timeout_seconds : 600);
  evaluate.argv = Substitute(spec_.evaluate.argv, eval_vars);
  Contain(evaluate, EvaluatePolicy(worktree, m.log_dir));
  std::optional<ProcessLimit> eval_pids;
  BoundProcesses(evaluate, eval_pids);
  auto before_evaluate = [&](size_t) {
    std::lock_guard<std::mutex> guard(mu_);
    pins_.Verify();  // throws: an evaluator that changed stops the run
    experiment.status = ExperimentStatus::kEvaluating;
    experiment.phase = phase + " evaluate";
    store_->UpdateExperiment(experiment);
    progress_.Phase(experiment.seq, experiment.phase, summary_.best_metric);
  };
  const std::vector<RunResult> results = RunChildren({train, evaluate}, before_evaluate, lock);

  const RunResult& trained = results.at(0);
  note_placement(trained);
  m.row.train_seconds = trained.wall_seconds;
  m.row.peak_rss_kb = trained.peak_rss_kb;
  m.row.exit_code = trained.exit_code >= 0 ? std::optional<int>(trained.exit_code) : std::nullopt;
  m.row.term_signal = trained.term_signal ? std::optional<int>(trained.term_signal) : std::nullopt;
  using Outcome = RunResult::Outcome;
  if (trained.outcome == Outcome::kAborted)
    return fail(MeasurementStatus::kInterrupted, "interrupted");
  if (trained.outcome == Outcome::kTimedOut) {
    return fail(MeasurementStatus::kTimeout, "train " + trained.Describe());
  }
  if (!trained.Succeeded()) {
    const bool invalid =
        spec_.train.invalid_exit_code != 0 && trained.exit_code == spec_.train.invalid_exit_code;
    return fail(invalid ? MeasurementStatus::kInvalid : MeasurementStatus::kCrashed,
                failure_reason("train", trained, train.stderr_path));
  }
  MetricSpec tokens_metric{"tokens", MetricSpec::Goal::kMaximize, MetricSpec::Format::kJson};
  if (auto tokens =
          ReadMetric(ReadLogTail(train.stdout_path, kOutputScanBytes), tokens_metric).value;
      tokens && std::isfinite(*tokens)) {
    m.row.tokens = static_cast<int64_t>(*tokens);
  }

  const RunResult& evaluated = results.at(1);
  note_placement(evaluated);
  m.row.eval_seconds = evaluated.wall_seconds;
  if (evaluated.outcome == Outcome::kAborted) {
    return fail(MeasurementStatus::kInterrupted, "interrupted");
  }
  if (evaluated.outcome == Outcome::kTimedOut) {
    return fail(MeasurementStatus::kTimeout, "evaluate " + evaluated.Describe());
  }
  if (!evaluated.Succeeded()) {
    return fail(MeasurementStatus::kCrashed,
                failure_reason("evaluate", evaluated, evaluate.stderr_path));
  }
  MetricReading reading =
      ReadMetric(ReadLogTail(evaluate.stdout_path, kOutputScanBytes), spec_.metric);
  if (!reading.value) {
    return fail(MeasurementStatus::kCrashed, "the evaluator printed no " + spec_.metric.name);
  }
  m.row.extra_json = reading.extra.dump();
  if (!std::isfinite(*reading.value)) {
    return fail(MeasurementStatus::kCrashed,
                spec_.metric.name + " is " + FormatNumber(*reading.value));
  }
  m.row.metric = *reading.value;
  m.row.status = MeasurementStatus::kOk;
  m.row.ended_at = NowSeconds();
  experiment.pgid.reset();
  m.row.id = store_->AddMeasurement(m.row);
  return m;
}

void Controller::Calibrate(Lock& lock) {
  std::optional<ExperimentRow> baseline = store_->GetExperiment(run_.id, 0);
  if (baseline && baseline->status == ExperimentStatus::kAccepted) return;
  if (!baseline) {
    ExperimentRow row;
    row.run_id = run_.id;
    row.seq = 0;
    row.parent_commit = run_.baseline_commit;
    row.commit = run_.baseline_commit;
    row.tree = workspace_->TreeOf(run_.baseline_commit);
    row.proposer = "baseline";
    row.description = "baseline";
    row.status = ExperimentStatus::kProposed;
    row.phase = "calibrate";
    row.started_at = NowSeconds();
    row.id = store_->InsertExperiment(row);
    baseline = row;
    workspace_->SetCandidateRef(tag_, 0, run_.baseline_commit);
  }
  int needed = std::max(1, spec_.acceptance.calibration);
  fs::path worktree = workspace_->ResetCandidate(tag_, 0, run_.baseline_commit);
  std::vector<double> samples = UnbiasedSamples(baseline->id);
  while (static_cast<int>(samples.size()) < needed) {
    std::string phase =
        "calibrate " + std::to_string(samples.size() + 1) + "/" + std::to_string(needed);
    Measurement m = Measure(*baseline, worktree, MeasurementRole::kCalibration, phase, lock);
    if (m.row.status == MeasurementStatus::kInterrupted) {
      throw Error("interrupted during calibration of the baseline");
    }
    if (m.row.status != MeasurementStatus::kOk) {
      baseline->status = ExperimentStatus::kRunning;
      baseline->reason = m.reason;
      store_->UpdateExperiment(*baseline);
      throw Error("the baseline of " + spec_.path.string() + " fails: " + m.reason + " (logs in " +
                  m.log_dir.string() + ")");
    }
    if (std::string why = HardwareMismatch(baseline->id, m.row); !why.empty()) {
      throw Error("the baseline's calibration of " + spec_.path.string() + " was " + why);
    }
    samples.push_back(*m.row.metric);
  }
  double mean = Mean(samples);
  double sd = StandardDeviation(samples);
  // Cost figures from the first measurement, as a candidate's.
  for (const MeasurementRow& m : store_->ListMeasurements(baseline->id)) {
    if (m.status != MeasurementStatus::kOk) continue;
    baseline->train_seconds = m.train_seconds;
    baseline->tokens = m.tokens;
    baseline->peak_rss_kb = m.peak_rss_kb;
    break;
  }
  baseline->metric = mean;
  baseline->spread = sd;
  baseline->n_measurements = static_cast<int64_t>(samples.size());
  baseline->status = ExperimentStatus::kAccepted;
  baseline->phase = "";
  baseline->ended_at = NowSeconds();
  {
    Store::Transaction transaction(*store_);
    store_->UpdateExperiment(*baseline);
    store_->SetNoise(run_.id, sd, mean);
    store_->SetBestCommit(run_.id, run_.baseline_commit);
    transaction.Commit();
  }
  run_ = *store_->GetRun(run_.id);
  Event("info", fmt::format("baseline {} = {:.6g} (noise sd {:.3g} over {} repeats)",
                            spec_.metric.name, mean, sd, samples.size()));
}

}  // namespace ratchet::internal

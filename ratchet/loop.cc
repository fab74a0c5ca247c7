#include "ratchet/loop.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "ratchet/acceptance.h"
#include "ratchet/error.h"
#include "ratchet/fs.h"
#include "ratchet/hardware.h"
#include "ratchet/lock.h"
#include "ratchet/metric_reader.h"
#include "ratchet/path_policy.h"
#include "ratchet/pin.h"
#include "ratchet/placeholders.h"
#include "ratchet/proposer.h"
#include "ratchet/spec.h"
#include "ratchet/store.h"
#include "ratchet/workspace.h"

namespace ratchet {

namespace fs = std::filesystem;

std::filesystem::path RatchetDir(const std::filesystem::path& workspace) {
  return workspace / ".ratchet";
}

std::filesystem::path StorePath(const std::filesystem::path& workspace) {
  return RatchetDir(workspace) / "store.db";
}

namespace {

// Enough of a log to show the last lines and find the metric, without
// reading a huge file back.
constexpr size_t kLogTailBytes = 8192;
constexpr size_t kOutputScanBytes = 65536;
constexpr int kMaxDuplicatesInARow = 50;
// Candidates are built one at a time in this worktree slot, reset to the best
// commit before each proposal.
constexpr int64_t kCandidateSlot = 0;
constexpr uintmax_t kKeptArtifactBytes = 1 << 20;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashString(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// The seed of one measurement: fixed by (tag, seq, index), never by the
// candidate, and fresh for every repeat. Kept below 2^31 for programs that
// parse it as an int.
int64_t MeasurementSeed(const std::string& tag, int64_t seq, int64_t index) {
  uint64_t mixed = SplitMix64(HashString(tag) ^ SplitMix64(static_cast<uint64_t>(seq) * 1000003ULL +
                                                          static_cast<uint64_t>(index)));
  return static_cast<int64_t>(mixed & 0x7fffffffULL);
}

std::string FormatNumber(double value) {
  std::ostringstream out;
  out.precision(10);
  out << value;
  return out.str();
}

fs::path CacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "ratchet";
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "ratchet";
  }
  return fs::temp_directory_path() / "ratchet-cache";
}

fs::path Absolute(const fs::path& path, const fs::path& base) {
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

// argv[0] as the kernel would find it, for pinning the evaluator's program.
std::optional<fs::path> ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return fs::path(program);
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

Goal ToGoal(MetricSpec::Goal goal) {
  return goal == MetricSpec::Goal::kMinimize ? Goal::kMinimize : Goal::kMaximize;
}

AcceptanceRule RuleOf(const Spec& spec) {
  AcceptanceRule rule;
  rule.goal = ToGoal(spec.metric.goal);
  rule.min_delta = spec.acceptance.min_delta;
  rule.max_improvement = spec.acceptance.max_improvement;
  switch (spec.acceptance.policy) {
    case AcceptanceSpec::Policy::kStrict: rule.policy = Policy::kStrict; break;
    case AcceptanceSpec::Policy::kThreshold: rule.policy = Policy::kThreshold; break;
    case AcceptanceSpec::Policy::kConfirm: rule.policy = Policy::kConfirm; break;
  }
  return rule;
}

double StandardDeviation(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double mean = Mean(values);
  double squares = 0.0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

// Deletes the large files (checkpoints) of one measurement's folder; logs
// (*.out, *.err) and small files stay.
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
  fs::path RunsDir() const { return RatchetDir(workspace_->dir()) / "runs" / tag_; }
  void Event(const std::string& level, const std::string& message);
  bool Interrupted() const { return interrupts_.load() >= 2; }

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
  std::vector<std::vector<double>> noise_groups_;  // repeats of one configuration each
  RunSummary summary_;
  double run_started_at_ = NowSeconds();
};

void Controller::Event(const std::string& level, const std::string& message) {
  store_->AddEvent(run_.id, level, message);
  progress_.Line(message);
}

void Controller::OpenEverything() {
  spec_ = LoadSpec(options_.spec_path);
  tag_ = options_.tag.empty() ? spec_.name : options_.tag;
  workspace_.emplace(Workspace::OpenOrCreate(options_.workspace, spec_.template_dir));
  fs::path ratchet_dir = RatchetDir(workspace_->dir());
  fs::create_directories(ratchet_dir);
  lock_ = std::make_unique<WorkspaceLock>(ratchet_dir);
  store_.emplace(Store::Open(StorePath(workspace_->dir())));

  fs::path cache = CacheDir();
  fs::create_directories(cache);
  base_vars_ = {
      {"spec_dir", spec_.dir.string()},
      {"bin_dir", options_.bin_dir.string()},
      {"cache_dir", cache.string()},
      {"threads", std::to_string(spec_.limits.threads)},
      {"budget", FormatNumber(spec_.budget.Amount())},
      {"budget_kind", spec_.budget.KindName()},
  };
}

// Makes sure the data exist, and gives the train command a folder that holds
// the train files only: it is never handed the held-out data's path.
void Controller::PrepareData() {
  if (!spec_.data) return;
  const DataSpec& data = *spec_.data;
  fs::path data_dir = Absolute(Substitute(data.dir, base_vars_), spec_.dir);
  base_vars_["data_dir"] = data_dir.string();
  auto missing = [&]() -> std::optional<fs::path> {
    for (const auto* list : {&data.train, &data.heldout}) {
      for (const std::string& name : *list) {
        if (!fs::exists(data_dir / name)) return data_dir / name;
      }
    }
    return std::nullopt;
  };
  if (missing() && !data.prepare.empty()) {
    fs::create_directories(data_dir);
    fs::path log = RatchetDir(workspace_->dir()) / "prepare.log";
    progress_.Line("preparing data in " + data_dir.string());
    RunRequest request;
    request.argv = Substitute(data.prepare, base_vars_);
    request.stdout_path = log;
    request.stderr_path = log.string() + ".err";
    RunResult result = runner_.Run(request);
    if (!result.Succeeded()) {
      throw Error(spec_.path.string() + ": data.prepare " + result.Describe() + " (see " +
                  request.stderr_path.string() + ")");
    }
  }
  if (auto file = missing()) {
    throw Error(file->string() + ": data file missing (spec " + spec_.path.string() + ", data)");
  }
  fs::path train_dir = RatchetDir(workspace_->dir()) / "data" / tag_;
  fs::remove_all(train_dir);
  fs::create_directories(train_dir);
  for (const std::string& name : data.train) {
    fs::path target = train_dir / name;
    fs::create_directories(target.parent_path());
    std::error_code link_error;
    fs::create_hard_link(data_dir / name, target, link_error);
    if (link_error) fs::copy_file(data_dir / name, target);
  }
  base_vars_["train_data"] = train_dir.string();
}

void Controller::OpenOrCreateRun() {
  std::vector<fs::path> pinned;
  Vars eval_vars = base_vars_;
  eval_vars["workspace"] = "{workspace}";  // programs inside the workspace are guarded by the path policy
  eval_vars["run_dir"] = "{run_dir}";
  eval_vars["seed"] = "0";
  std::string program = Substitute(spec_.evaluate.argv.front(), eval_vars);
  if (program.find("{workspace}") == std::string::npos) {
    if (auto resolved = ResolveProgram(program)) pinned.push_back(Absolute(*resolved, spec_.dir));
  }
  for (const std::string& file : spec_.immutable) {
    pinned.push_back(Absolute(Substitute(file, base_vars_), spec_.dir));
  }
  if (spec_.data) {
    for (const std::string& name : spec_.data->heldout) {
      pinned.push_back(fs::path(base_vars_["data_dir"]) / name);
    }
  }

  std::string spec_sha = Sha256Hex(spec_.text);
  if (auto existing = store_->FindRun(tag_)) {
    run_ = *existing;
    if (run_.spec_sha256 != spec_sha) {
      throw Error(spec_.path.string() + ": run '" + tag_ +
                  "' was started from a different spec; resume it with the same spec or use "
                  "another --tag");
    }
    pins_ = Pins::FromJson(nlohmann::json::parse(run_.pins_json));
    pins_.Verify();
    store_->SetRunState(run_.id, RunState::kRunning);
    run_ = *store_->GetRun(run_.id);
    Event("info", "resuming run '" + tag_ + "' at experiment " +
                      std::to_string(store_->NextSeq(run_.id)));
  } else {
    pins_ = Pins::Compute(pinned);
    HardwareInfo hardware = DetectHardware();
    run_ = RunRow{};
    run_.tag = tag_;
    run_.spec_name = spec_.name;
    run_.spec_json = nlohmann::json::parse(spec_.text).dump();
    run_.spec_sha256 = spec_sha;
    run_.workspace = workspace_->dir().string();
    run_.baseline_commit = workspace_->BaselineCommit();
    run_.hardware_id = store_->UpsertHardware(hardware);
    run_.budget_kind = spec_.budget.KindName();
    run_.budget_amount = spec_.budget.Amount();
    run_.metric_name = spec_.metric.name;
    run_.goal = spec_.metric.goal == MetricSpec::Goal::kMinimize ? "minimize" : "maximize";
    run_.pins_json = pins_.ToJson().dump();
    run_.pins_digest = pins_.Digest();
    run_.id = store_->CreateRun(run_);
    run_ = *store_->GetRun(run_.id);
    Event("info", "new run '" + tag_ + "' on " + hardware.cpu_model + " (" +
                      std::to_string(hardware.cores) + " cores), " + std::to_string(pinned.size()) +
                      " evaluator files pinned");
  }
  if (workspace_->ResolveBranch(tag_).empty()) {
    workspace_->CreateBranch(tag_, run_.best_commit.value_or(run_.baseline_commit));
  }
  workspace_->PointHeadAt(tag_);
  proposer_ = MakeProposer(spec_);
}

// After a controller died: whatever was under way is recorded as
// interrupted, leftovers are killed and removed, and git is brought in line
// with the store (the store is the truth: it is written first).
void Controller::Reconcile() {
  for (ExperimentRow experiment : store_->UnfinishedExperiments(run_.id)) {
    if (experiment.pgid) KillProcessGroup(static_cast<pid_t>(*experiment.pgid));
    experiment.pgid.reset();
    if (experiment.seq == 0) {  // the baseline's calibration simply continues
      store_->UpdateExperiment(experiment);
      continue;
    }
    Finish(experiment, ExperimentStatus::kInterrupted,
           "controller stopped during " + (experiment.phase.empty() ? "proposal" : experiment.phase));
  }
  fs::path worktrees = RatchetDir(workspace_->dir()) / "worktrees";
  if (fs::exists(worktrees)) {
    for (const auto& entry : fs::directory_iterator(worktrees)) {
      std::string name = entry.path().filename().string();
      if (name.rfind(tag_ + "-", 0) != 0) continue;
      std::string seq = name.substr(tag_.size() + 1);
      if (seq.empty() || seq.find_first_not_of("0123456789") != std::string::npos) continue;
      workspace_->RemoveCandidate(tag_, std::stoll(seq));
    }
  }
  for (const ExperimentRow& experiment : store_->ListExperiments(run_.id)) {
    if (experiment.commit && workspace_->CandidateRef(tag_, experiment.seq) != *experiment.commit) {
      workspace_->SetCandidateRef(tag_, experiment.seq, *experiment.commit);
    }
  }
  std::string best = run_.best_commit.value_or(run_.baseline_commit);
  if (workspace_->ResolveBranch(tag_) != best) workspace_->AdvanceBranch(tag_, best);
}

void Controller::LoadHistory() {
  history_.clear();
  noise_groups_.clear();
  for (const ExperimentRow& experiment : store_->ListExperiments(run_.id)) {
    HistoryEntry entry;
    entry.seq = experiment.seq;
    entry.status = std::string(ToString(experiment.status));
    entry.metric = experiment.metric;
    entry.params = nlohmann::json::parse(experiment.params_json, nullptr, false);
    entry.description = experiment.description;
    history_.push_back(entry);
    std::vector<double> group = UnbiasedSamples(experiment.id);
    if (group.size() >= 2) noise_groups_.push_back(group);
  }
}

// Measurements free of selection bias: the baseline's calibration repeats
// and a candidate's fresh confirm repeats. A candidate accepted on a single
// measurement (strict, threshold) has only that one.
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

Measurement Controller::Measure(ExperimentRow& experiment, const fs::path& worktree,
                                MeasurementRole role, const std::string& phase) {
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

  auto record_pgid = [&](pid_t pgid) {
    experiment.pgid = pgid;
    store_->UpdateExperiment(experiment);
  };
  auto should_abort = [&] {
    progress_.Tick();
    return Interrupted();
  };
  auto fail = [&](MeasurementStatus status, const std::string& reason) {
    // A failed measurement's output is useless, and may be what filled the
    // disk: free it before recording anything.
    ratchet::PruneArtifacts(m.log_dir);
    m.row.status = status;
    m.reason = reason;
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
  progress_.Phase(experiment.seq, experiment.phase,
                  spec_.budget.kind == Budget::Kind::kTime ? spec_.budget.seconds : 0,
                  summary_.best_metric);

  RunRequest train;
  train.argv = Substitute(spec_.train.argv, vars);
  train.cwd = worktree;
  train.stdout_path = m.log_dir / "train.out";
  train.stderr_path = m.log_dir / "train.err";
  train.timeout_seconds = TrainDeadlineSeconds(spec_);
  train.memory_limit_bytes = spec_.limits.memory_mb << 20;
  train.log_cap_bytes = spec_.limits.log_bytes;
  train.on_start = record_pgid;
  train.should_abort = should_abort;
  RunResult trained = runner_.Run(train);
  m.row.train_seconds = trained.wall_seconds;
  m.row.peak_rss_kb = trained.peak_rss_kb;
  m.row.exit_code = trained.exit_code >= 0 ? std::optional<int>(trained.exit_code) : std::nullopt;
  m.row.term_signal = trained.term_signal ? std::optional<int>(trained.term_signal) : std::nullopt;
  using Outcome = RunResult::Outcome;
  if (trained.outcome == Outcome::kAborted) return fail(MeasurementStatus::kInterrupted, "interrupted");
  if (trained.outcome == Outcome::kTimedOut) {
    return fail(MeasurementStatus::kTimeout, "train " + trained.Describe());
  }
  if (!trained.Succeeded()) {
    return fail(MeasurementStatus::kCrashed, failure_reason("train", trained, train.stderr_path));
  }
  MetricSpec tokens_metric{"tokens", MetricSpec::Goal::kMaximize, MetricSpec::Format::kJson};
  if (auto tokens = ReadMetric(ReadLogTail(train.stdout_path, kOutputScanBytes), tokens_metric).value;
      tokens && std::isfinite(*tokens)) {
    m.row.tokens = static_cast<int64_t>(*tokens);
  }

  pins_.Verify();  // throws: an evaluator that changed stops the run
  experiment.status = ExperimentStatus::kEvaluating;
  experiment.phase = phase + " evaluate";
  store_->UpdateExperiment(experiment);
  progress_.Phase(experiment.seq, experiment.phase, 0, summary_.best_metric);

  Vars eval_vars = vars;
  eval_vars["data_dir"] = base_vars_.count("data_dir") ? base_vars_.at("data_dir") : "";
  RunRequest evaluate;
  evaluate.argv = Substitute(spec_.evaluate.argv, eval_vars);
  evaluate.cwd = m.log_dir;
  evaluate.stdout_path = m.log_dir / "eval.out";
  evaluate.stderr_path = m.log_dir / "eval.err";
  evaluate.timeout_seconds = spec_.evaluate.timeout_seconds > 0 ? spec_.evaluate.timeout_seconds : 600;
  evaluate.memory_limit_bytes = train.memory_limit_bytes;
  evaluate.log_cap_bytes = spec_.limits.log_bytes;
  evaluate.on_start = record_pgid;
  evaluate.should_abort = should_abort;
  RunResult evaluated = runner_.Run(evaluate);
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
  MetricReading reading = ReadMetric(ReadLogTail(evaluate.stdout_path, kOutputScanBytes), spec_.metric);
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
  experiment.pgid.reset();
  m.row.id = store_->AddMeasurement(m.row);
  return m;
}

void Controller::Calibrate() {
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
  fs::path worktree = workspace_->ResetCandidate(tag_, kCandidateSlot, run_.baseline_commit);
  std::vector<double> samples = UnbiasedSamples(baseline->id);
  while (static_cast<int>(samples.size()) < needed) {
    std::string phase = "calibrate " + std::to_string(samples.size() + 1) + "/" +
                        std::to_string(needed);
    Measurement m = Measure(*baseline, worktree, MeasurementRole::kCalibration, phase);
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
    samples.push_back(*m.row.metric);
  }
  double mean = Mean(samples);
  double sd = StandardDeviation(samples);
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
  progress_.Phase(seq, "propose", 0, summary_.best_metric);

  fs::path worktree = workspace_->ResetCandidate(tag_, kCandidateSlot, *best->commit);
  ProposalContext context{spec_,    seq, ProposalSeed(spec_.proposer.seed, seq),
                          worktree, nlohmann::json::parse(best->params_json, nullptr, false),
                          history_, best->metric};
  Proposal proposal;
  try {
    proposal = proposer_->Propose(context);
  } catch (const Error& error) {
    Finish(experiment, ExperimentStatus::kInvalid, std::string("proposer failed: ") + error.what());
    return true;
  }
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
  std::string commit = workspace_->CommitCandidate(
      worktree, *best->commit,
      AppendTrailers(proposal.description,
                     {{"Ratchet-Run", tag_}, {"Ratchet-Seq", std::to_string(seq)}}));
  workspace_->SetCandidateRef(tag_, seq, commit);
  experiment.commit = commit;
  experiment.tree = workspace_->TreeOf(commit);
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

  Verdict verdict = DecideFirst(rule, best_samples, *first.row.metric);
  std::vector<double> fresh;
  int rounds = 0;
  while (verdict.kind == Verdict::Kind::kMeasureMore) {
    ++rounds;
    int repeats = std::max(1, spec_.acceptance.repeats);
    for (int r = 0; r < repeats; ++r) {
      std::string phase = "confirm " + std::to_string(fresh.size() + 1) + "/" +
                          std::to_string(rounds * repeats);
      Measurement again = Measure(experiment, worktree, MeasurementRole::kConfirm, phase);
      if (again.row.status != MeasurementStatus::kOk) {
        again.reason = "on re-measurement: " + again.reason;
        measurement_failed(again);
        return true;
      }
      fresh.push_back(*again.row.metric);
      all.push_back(*again.row.metric);
    }
    std::vector<std::vector<double>> groups = noise_groups_;
    groups.push_back(fresh);
    verdict = DecideConfirm(rule, best_samples, fresh, PooledNoise(groups), rounds);
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

void PruneArtifacts(const fs::path& measurement_dir) {
  std::error_code error;
  for (const auto& file : fs::recursive_directory_iterator(measurement_dir, error)) {
    std::string extension = file.path().extension().string();
    if (extension == ".out" || extension == ".err" || !file.is_regular_file()) continue;
    if (file.file_size() >= kKeptArtifactBytes) fs::remove(file.path(), error);
  }
}

// A night of experiments writes a checkpoint per measurement; only the
// accepted ones are worth the disk.
void Controller::PruneArtifacts(int64_t seq) {
  std::string prefix = std::to_string(seq) + ".";
  std::error_code error;
  for (const auto& dir : fs::directory_iterator(RunsDir(), error)) {
    if (dir.path().filename().string().rfind(prefix, 0) == 0) ratchet::PruneArtifacts(dir.path());
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
  if (experiment.commit) {
    std::vector<std::pair<std::string, std::string>> trailers = {
        {"Ratchet-Status", std::string(ToString(status))}};
    if (experiment.metric) {
      trailers.push_back(
          {"Ratchet-Metric", spec_.metric.name + "=" + FormatNumber(*experiment.metric)});
    }
    experiment.commit = workspace_->Recommit(
        *experiment.commit, AppendTrailers(workspace_->Message(*experiment.commit), trailers));
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
  LoadHistory();
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
    if (RunExperiment(store_->NextSeq(run_.id))) {
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

}  // namespace

RunSummary RunRatchet(const RunOptions& options, ProcessRunner& runner,
                      const InterruptCounter& interrupts, Progress& progress) {
  Controller controller(options, runner, interrupts, progress);
  return controller.Run();
}

}  // namespace ratchet

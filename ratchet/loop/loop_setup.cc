// Opening a run: spec, workspace, lock, store, data, pins; and reconciling
// after a controller died.
#include "ratchet/loop/loop_internal.h"

#include <spdlog/fmt/fmt.h>

#include "base/error.h"
#include <unistd.h>

#include "ratchet/store/hardware.h"
#include "ratchet/runner/runner.h"
#include "ratchet/runner/slurm_runner.h"
#include "ratchet/runner/srun_runner.h"

namespace ratchet::internal {

void Controller::Event(const std::string& level, const std::string& message) {
  store_->AddEvent(run_.id, level, message);
  progress_.Line(message);
}

void Controller::OpenEverything() {
  spec_ = options_.budget ? LoadSpecWithBudget(options_.spec_path, *options_.budget)
                          : LoadSpec(options_.spec_path);
  tag_ = options_.tag.empty() ? spec_.name : options_.tag;
  sandboxed_ = spec_.sandbox.enabled && !options_.no_sandbox;
  if (sandboxed_) {  // before anything is created or recorded
    if (std::string why = SandboxUnavailable(); !why.empty()) throw Error(why);
  }
  workspace_.emplace(Workspace::OpenOrCreate(options_.workspace, spec_.template_dir));
  fs::path ratchet_dir = RatchetDir(workspace_->dir());
  fs::create_directories(ratchet_dir);
  lock_ = std::make_unique<WorkspaceLock>(ratchet_dir);
  // Before any git write: a killed controller may have left lock files.
  workspace_->ClearStaleLocks();
  store_.emplace(Store::Open(StorePath(workspace_->dir())));

  parallel_ = options_.parallel > 0 ? options_.parallel : spec_.parallel;
  const BackendSpec::Kind backend = options_.backend.empty()
                                        ? spec_.backend.kind
                                        : ParseBackendKind(options_.backend, "--backend");
  // Local children share the machine's threads; a Slurm job gets its own.
  int threads = spec_.limits.threads;
  if (backend == BackendSpec::Kind::kLocal) threads = std::max(1, threads / parallel_);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) host_ = host;
  slurm_options_.partition = spec_.backend.slurm_partition;
  slurm_options_.extra_args = spec_.backend.slurm_extra_args;
  slurm_options_.cpus_per_task = threads;
  slurm_options_.job_name = "ratchet-" + tag_;
  slurm_options_.hardware_probe = {(options_.bin_dir / "ratchet").string(), "hardware", "--json"};
  slurm_options_.step_runner = {(options_.bin_dir / "ratchet-run-steps").string()};
  if (backend == BackendSpec::Kind::kSlurm) {
    if (spec_.backend.slurm_submit == BackendSpec::Submit::kSrun) {
      slurm_runner_ = std::make_unique<SrunRunner>(slurm_options_);
    } else {
      slurm_runner_ = std::make_unique<SlurmRunner>(slurm_options_);
    }
  } else {
    hardware_ = DetectHardware().Fingerprint();  // a node reports its own
  }

  fs::path cache = CacheDir();
  fs::create_directories(cache);
  base_vars_ = {
      {"spec_dir", spec_.dir.string()},
      {"bin_dir", options_.bin_dir.string()},
      {"cache_dir", cache.string()},
      {"threads", std::to_string(threads)},
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
                  "' was started from a different spec; resume it with the same spec (and "
                  "--budget) or use another --tag");
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
  if (spec_.sandbox.enabled && options_.no_sandbox) {
    Event("warning",
          "sandbox off (--no-sandbox): candidates can read the held-out data, write outside "
          "the workspace and leave processes behind");
  }
}

// After a controller died: whatever was under way is recorded as
// interrupted, leftovers are killed and removed, and git is brought in line
// with the store (the store is the truth: it is written first).
void Controller::Reconcile() {
  for (ExperimentRow experiment : store_->UnfinishedExperiments(run_.id)) {
    if (experiment.pgid) KillProcessGroup(static_cast<pid_t>(*experiment.pgid));
    // A job still queued or running would be counted twice: cancel it.
    if (experiment.job_id) CancelLeftoverJob(slurm_options_, *experiment.job_id);
    experiment.pgid.reset();
    experiment.job_id.reset();
    if (experiment.seq == 0) {  // the baseline's calibration simply continues
      store_->UpdateExperiment(experiment);
      continue;
    }
    Finish(experiment, ExperimentStatus::kInterrupted,
           "controller stopped during " + (experiment.phase.empty() ? "proposal" : experiment.phase));
    // Its candidate was never judged: measured again first, as a new experiment.
    if (experiment.tree) {
      queue_.push_back({experiment.parent_commit, *experiment.tree,
                        experiment.description + " (re-run of " + std::to_string(experiment.seq) + ")",
                        experiment.params_json});
    }
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
    entry.reason = experiment.reason.value_or("");
    entry.carried = IsCarriedReason(entry.reason);
    history_.push_back(entry);
    std::vector<double> group = UnbiasedSamples(experiment.id);
    if (group.size() >= 2) noise_groups_.push_back(group);
  }
}

// Measurements free of selection bias: the baseline's calibration repeats
// and a candidate's fresh confirm repeats. A candidate accepted on a single
// measurement (strict, threshold) has only that one.

}  // namespace ratchet::internal

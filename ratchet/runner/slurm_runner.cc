#include "ratchet/runner/slurm_runner.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <system_error>
#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/job_steps.h"
#include "ratchet/runner/captured_command.h"

namespace ratchet {

namespace fs = std::filesystem;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// scontrol is polled often at first, and again once the job runs (a short
// run ends within seconds of starting), then less: each poll is a process
// and an RPC to the controller.
constexpr double kFirstPollSeconds = 0.05;
constexpr double kMaxPollSeconds = 1.0;
constexpr double kPollGrowth = 1.25;
constexpr double kAbortPollSeconds = 0.1;

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

CommandOutput RunSlurmCommand(const std::vector<std::string>& argv) {
  CommandOutput out = RunCaptured(argv);
  if (!out.started) {
    throw Error("slurm: " + out.output + " (is Slurm's client installed and on PATH?)");
  }
  return out;
}

// Cancels the job unless disarmed: no exception leaves a job behind.
class CancelOnUnwind {
 public:
  CancelOnUnwind(const SlurmOptions& options, std::string job_id)
      : options_(options), job_id_(std::move(job_id)) {}
  ~CancelOnUnwind() {
    if (armed_) RunCaptured({options_.scancel, job_id_});  // Best effort: we are unwinding.
  }
  CancelOnUnwind(const CancelOnUnwind&) = delete;
  CancelOnUnwind& operator=(const CancelOnUnwind&) = delete;
  void Disarm() { armed_ = false; }

 private:
  const SlurmOptions& options_;
  std::string job_id_;
  bool armed_ = true;
};

// Asks Slurm to end the job. A running job's program first gets SIGTERM
// (--full: the batch shell, which is the program, not only its steps); a
// pending job, or one past its grace, is cancelled outright (SIGKILL after
// the cluster's KillWait). "Already completed" is fine: scancel's status is
// not checked.
void Cancel(const SlurmOptions& options, const std::string& job_id, bool gently) {
  if (gently) {
    RunSlurmCommand({options.scancel, "--signal=TERM", "--full", job_id});
  } else {
    RunSlurmCommand({options.scancel, job_id});
  }
}

SlurmJobRecord QueryJob(const SlurmOptions& options, const std::string& job_id) {
  CommandOutput out = RunSlurmCommand({options.scontrol, "show", "job", "-o", job_id});
  if (out.exit_code != 0) {
    throw Error("slurm job " + job_id + ": the controller lost it (scontrol show job: " +
                OneLine(out.output) + ")");
  }
  return ParseScontrolJob(job_id, out.output);
}

fs::path Absolute(const fs::path& path) { return path.empty() ? path : fs::absolute(path); }

// The outcome of a job that ended by itself, from its record and its marker.
// Throws when the node could not see the run folder or working directory.
void ReadOutcome(const SlurmJobRecord& job, const SlurmJobFiles& files, const RunRequest& request,
                 RunResult& result) {
  const std::string& job_id = result.job_id;
  const std::vector<std::string> marker = ReadJobMarker(files.marker);
  if (marker.empty()) {
    if (job.state == "CANCELLED" && job.node.empty()) {
      throw Error("slurm job " + job_id + " was cancelled before it ran (reason " + job.reason + ")");
    }
    throw Error("slurm job " + job_id + " on node " + (job.node.empty() ? "?" : job.node) +
                " left no marker " + files.marker.string() +
                ": the node cannot see the run folder " + files.marker.parent_path().string() +
                " (put it on a path every node mounts; job state " + job.state + ", reason " +
                job.reason + ")");
  }
  result.node = marker[0];
  if (std::find(marker.begin(), marker.end(), "chdir-failed") != marker.end()) {
    throw Error("slurm job " + job_id + " on node " + result.node +
                " cannot enter its working directory " + request.cwd.string() +
                " (put it on a path every node mounts)");
  }
  if (std::find(marker.begin(), marker.end(), "exec-failed") != marker.end()) {
    result.outcome = RunResult::Outcome::kSpawnFailed;
    const std::string said = ReadLogTail(request.stderr_path, 512);
    result.error = "cannot execute " + request.argv[0] + " on node " + result.node +
                   (said.empty() ? "" : ": " + OneLine(said));
    return;
  }
  if (job.term_signal != 0) {
    result.outcome = RunResult::Outcome::kSignaled;
    result.term_signal = job.term_signal;
  } else {
    result.outcome = RunResult::Outcome::kExited;
    result.exit_code = job.exit_code;
  }
  if (request.signal_in_exit_code) RestoreChildSignal(result);
}

}  // namespace

void CancelLeftoverJob(const SlurmOptions& options, const std::string& job_id,
                       double wait_seconds) {
  Cancel(options, job_id, false);
  const double until = Now() + wait_seconds;
  while (Now() < until) {
    CommandOutput out = RunSlurmCommand({options.scontrol, "show", "job", "-o", job_id});
    if (out.exit_code != 0 || ParseScontrolJob(job_id, out.output).Finished()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

RunResult SlurmRunner::Run(const RunRequest& original) {
  if (original.argv.empty() || original.argv[0].empty()) {
    throw Error("runner: empty command (argv[0] missing)");
  }
  if (original.stdout_path.empty()) {
    throw Error("slurm runner: " + original.argv[0] +
                ": no stdout log path (the job's files go into its folder, the run folder)");
  }
  // sbatch reads relative log paths from the job's working directory, and
  // the node may start elsewhere: every path the job sees is absolute.
  RunRequest request = original;
  request.cwd = Absolute(request.cwd.empty() ? fs::current_path() : request.cwd);
  request.stdout_path = Absolute(request.stdout_path);
  request.stderr_path = Absolute(request.stderr_path);
  SlurmJobFiles files;
  files.script = fs::path(request.stdout_path).replace_extension(".sbatch");
  files.marker = fs::path(request.stdout_path).replace_extension(".started");
  files.hardware = fs::path(request.stdout_path).replace_extension(".hardware");
  std::error_code ec;
  fs::remove(files.marker, ec);
  if (ec) throw Error(files.marker.string() + ": cannot remove the old marker: " + ec.message());
  fs::remove(files.hardware, ec);
  WriteFileFresh(files.script,
                 SlurmJobScript(request, files.marker, options_.hardware_probe, files.hardware));

  RunResult result;
  const double submitted = Now();
  CommandOutput submit = RunSlurmCommand(SbatchArgv(request, options_, files.script));
  const std::string job_id = ParseSbatchJobId(submit.output);
  if (submit.exit_code != 0 || job_id.empty()) {
    throw Error("slurm: sbatch refused " + files.script.string() + ": " + OneLine(submit.output));
  }
  result.job_id = job_id;
  CancelOnUnwind cancel_on_unwind(options_, job_id);
  if (request.on_job) request.on_job(job_id, "");

  enum class Kill { kNone, kTimeout, kAbort } kill = Kill::kNone;
  double started_at = kInfinity;
  double kill_at = kInfinity;  // When the outright cancel follows the SIGTERM.
  double next_abort_check = submitted;
  double poll = kFirstPollSeconds;
  SlurmJobRecord job;
  while (true) {
    job = QueryJob(options_, job_id);
    const double now = Now();
    if (started_at == kInfinity && job.Started()) {
      started_at = now;
      poll = kFirstPollSeconds;  // A short run's end is then seen soon.
      result.node = job.node;
      if (request.on_job) request.on_job(job_id, job.node);
    }
    if (job.Finished()) break;

    if (kill == Kill::kNone) {
      if (request.timeout_seconds > 0 && now - started_at >= request.timeout_seconds) {
        kill = Kill::kTimeout;
      } else if (request.should_abort && now >= next_abort_check) {
        next_abort_check = now + kAbortPollSeconds;
        if (request.should_abort()) kill = Kill::kAbort;
      }
      if (kill != Kill::kNone) {
        const bool running = job.state == "RUNNING";
        Cancel(options_, job_id, running);
        kill_at = running ? now + request.kill_grace_seconds : kInfinity;
      }
    }
    if (now >= kill_at) {
      Cancel(options_, job_id, false);
      kill_at = kInfinity;
    }

    double wait = poll;
    if (kill == Kill::kNone) {
      if (request.timeout_seconds > 0) wait = std::min(wait, started_at + request.timeout_seconds - now);
      if (request.should_abort) wait = std::min(wait, next_abort_check - now);
    }
    wait = std::min(wait, kill_at - now);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, wait)));
    poll = std::min(poll * kPollGrowth, kMaxPollSeconds);
  }
  cancel_on_unwind.Disarm();
  result.wall_seconds = Now() - submitted;
  result.stdout_bytes = JobFileSize(request.stdout_path);
  result.stderr_bytes = JobFileSize(request.stderr_path);

  if (kill == Kill::kTimeout || job.state == "TIMEOUT") {
    result.outcome = RunResult::Outcome::kTimedOut;
  } else if (kill == Kill::kAbort) {
    result.outcome = RunResult::Outcome::kAborted;
  } else {
    ReadOutcome(job, files, request, result);
  }
  if (fs::exists(files.hardware, ec)) result.hardware_json = ReadFile(files.hardware);
  return result;
}

std::vector<RunResult> SlurmRunner::RunSteps(const std::vector<RunRequest>& steps,
                                         const std::function<void(size_t)>& before_step) {
  return RunStepsAsSlurmJob(*this, options_, steps, before_step);
}

}  // namespace ratchet

#include "ratchet/runner/srun_runner.h"

#include <algorithm>
#include <fstream>
#include <system_error>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/job_steps.h"
#include "ratchet/runner/slurm_runner.h"

namespace ratchet {

namespace fs = std::filesystem;

namespace {

bool Has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// The job's id from the marker's "job <id>" line; "" before it is written.
std::string JobIdOf(const std::vector<std::string>& marker) {
  for (const std::string& line : marker) {
    if (line.rfind("job ", 0) == 0) return line.substr(4);
  }
  return "";
}

}  // namespace

std::vector<std::string> SrunArgv(const RunRequest& request, const SlurmOptions& options,
                                  const fs::path& script) {
  std::vector<std::string> argv = JobArgv(options.srun, "--quiet", request, options);
  argv.push_back("/bin/bash");
  argv.push_back(script.string());
  return argv;
}

RunResult SrunRunner::Run(const RunRequest& original) {
  if (original.argv.empty() || original.argv[0].empty()) {
    throw Error("runner: empty command (argv[0] missing)");
  }
  if (original.stdout_path.empty()) {
    throw Error("srun runner: " + original.argv[0] +
                ": no stdout log path (the job's files go into its folder, the run folder)");
  }
  RunRequest job = original;  // every path the node sees is absolute
  job.cwd = fs::absolute(job.cwd.empty() ? fs::current_path() : job.cwd);
  job.stdout_path = fs::absolute(job.stdout_path);
  if (!job.stderr_path.empty()) job.stderr_path = fs::absolute(job.stderr_path);
  SlurmJobFiles files;
  files.script = fs::path(job.stdout_path).replace_extension(".sbatch");
  files.marker = fs::path(job.stdout_path).replace_extension(".started");
  files.hardware = fs::path(job.stdout_path).replace_extension(".hardware");
  std::error_code ec;
  fs::remove(files.marker, ec);
  if (ec) throw Error(files.marker.string() + ": cannot remove the old marker: " + ec.message());
  fs::remove(files.hardware, ec);
  WriteFileFresh(files.script,
                 SlurmJobScript(job, files.marker, options_.hardware_probe, files.hardware));

  // srun itself is a local child: deadline, Ctrl-C and PDEATHSIG as for any.
  RunRequest srun;
  srun.argv = SrunArgv(job, options_, files.script);
  srun.stderr_path = fs::path(job.stdout_path).replace_extension(".srun");
  srun.timeout_seconds = original.timeout_seconds;
  srun.kill_grace_seconds = original.kill_grace_seconds;
  srun.signal_in_exit_code = true;
  srun.on_start = original.on_start;
  std::string reported;  // the job id once on_job heard it
  srun.should_abort = [&] {
    if (reported.empty() && original.on_job) {
      const std::vector<std::string> marker = ReadJobMarker(files.marker);
      if (std::string id = JobIdOf(marker); !id.empty() && !marker.empty()) {
        reported = id;
        original.on_job(id, marker[0]);
      }
    }
    return original.should_abort && original.should_abort();
  };
  PosixProcessRunner local;
  RunResult result = local.Run(srun);

  const std::vector<std::string> marker = ReadJobMarker(files.marker);
  result.job_id = JobIdOf(marker);
  if (!marker.empty()) result.node = marker[0];
  using Outcome = RunResult::Outcome;
  if (result.outcome == Outcome::kTimedOut || result.outcome == Outcome::kAborted) {
    // srun took the job down with it; make sure before the next one starts.
    if (!result.job_id.empty()) CancelLeftoverJob(options_, result.job_id, 30);
  } else if (marker.empty()) {
    const std::string said = OneLine(ReadLogTail(srun.stderr_path, 1024));
    if (result.outcome == Outcome::kExited && result.exit_code == 126) {
      throw Error("srun job for " + files.script.string() +
                  " left no marker: the node cannot see the run folder " +
                  files.marker.parent_path().string() + " (put it on a path every node mounts)");
    }
    throw Error("slurm: srun refused " + files.script.string() + ": " + said);
  } else if (Has(marker, "chdir-failed")) {
    throw Error("slurm job " + result.job_id + " on node " + result.node +
                " cannot enter its working directory " + job.cwd.string() +
                " (put it on a path every node mounts)");
  } else if (Has(marker, "exec-failed")) {
    result.outcome = Outcome::kSpawnFailed;
    const std::string said = ReadLogTail(job.stderr_path, 512);
    result.error = "cannot execute " + job.argv[0] + " on node " + result.node +
                   (said.empty() ? "" : ": " + OneLine(said));
  }
  if (fs::exists(files.hardware, ec)) result.hardware_json = ReadFile(files.hardware);
  result.stdout_bytes = JobFileSize(job.stdout_path);
  result.stderr_bytes = JobFileSize(job.stderr_path);
  if (reported.empty() && !result.job_id.empty() && original.on_job) {
    original.on_job(result.job_id, result.node);
  }
  return result;
}

std::vector<RunResult> SrunRunner::RunSteps(const std::vector<RunRequest>& steps,
                                         const std::function<void(size_t)>& before_step) {
  return RunStepsAsSlurmJob(*this, options_, steps, before_step);
}

}  // namespace ratchet

// One RunRequest as one Slurm batch job: the options, the job script, the
// sbatch command line, and reading the job's record back from scontrol.
//
// Pure text in, text out, so every piece is tested without a cluster;
// SlurmRunner (slurm_runner.h) runs the commands.
//
// The job script starts with the marker lines: the job writes the node's
// name, then "job <id>", into a marker file in the run folder before anything
// else. A job that ran
// but left no marker ran on a node that cannot see the run folder, which
// must be on a path every node mounts. A working directory the node cannot
// enter appends "chdir-failed" to the marker and ends the job (Slurm itself
// would run it in /tmp instead). Then the request's memory limit
// (ulimit -v, RLIMIT_AS as for a local child) and extra_env, then the
// program replaces the shell (exec), so the job's exit code or signal is the
// program's own. When exec fails, the script appends "exec-failed" to the
// marker and exits 127.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ratchet/runner/runner.h"

namespace ratchet {

struct SlurmOptions {
  std::string partition;                // --partition; "": the cluster's default.
  std::vector<std::string> extra_args;  // Passed to sbatch as they are (e.g. "--account=lab").
  int cpus_per_task = 1;                // --cpus-per-task.
  // --mem in bytes (rounded up to MiB); 0: the request's memory_limit_bytes,
  // and when that is 0 as well, no --mem (the partition's default).
  uint64_t memory_bytes = 0;
  // --time is the request's timeout + kill grace + this margin, in whole
  // minutes: the runner's own deadline comes first, Slurm's is the backstop
  // should the controller lose track of the job. No timeout: no --time.
  double time_margin_seconds = 60;
  std::string job_name = "ratchet";  // --job-name.
  // Run on the node before the program, its stdout kept as the job's
  // hardware file (RunResult::hardware_json): `ratchet hardware`, so each
  // measurement knows the hardware it ran on. Empty: none.
  std::vector<std::string> hardware_probe;
  // The node's command that runs a measurement's steps from a plan
  // (ratchet-run-steps, job_steps.h), so train and evaluate are one job,
  // whose node reports its hardware itself when hardware_probe is set.
  // Empty: each step is a job of its own.
  std::vector<std::string> step_runner;
  // The programs (PATH lookup), replaceable for a site's wrappers.
  std::string sbatch = "sbatch", srun = "srun", scontrol = "scontrol", scancel = "scancel";
};

// The files of one job, side by side in the run folder.
struct SlurmJobFiles {
  std::filesystem::path script;  // The batch script sbatch reads.
  std::filesystem::path marker;  // Written by the job on the node: "<node>\n".
  std::filesystem::path hardware;  // The hardware probe's output, when there is a probe.
};

// The lines of a job's marker file; empty when the job never wrote it.
std::vector<std::string> ReadJobMarker(const std::filesystem::path& marker);
// Size of a job's log; 0 when it is absent or the path empty.
uint64_t JobFileSize(const std::filesystem::path& path);

// A Slurm command's output as one line: its lines joined by "; ".
std::string OneLine(std::string_view text);

// word, quoted for bash: 'it'\''s'.
std::string ShellQuote(std::string_view word);

// The batch script for `request`, with `probe` run first into
// `hardware_file` when given. REQUIRES: !request.argv.empty().
std::string SlurmJobScript(const RunRequest& request, const std::filesystem::path& marker,
                           const std::vector<std::string>& probe = {},
                           const std::filesystem::path& hardware_file = {});

// The sbatch command line that submits `script` for `request` (--parsable, so
// sbatch prints the job id and returns).
std::vector<std::string> SbatchArgv(const RunRequest& request, const SlurmOptions& options,
                                    const std::filesystem::path& script);

// sbatch's or srun's options for `request` (`mode`: "--parsable" or
// "--quiet"), without the script.
std::vector<std::string> JobArgv(const std::string& program, const std::string& mode,
                                 const RunRequest& request, const SlurmOptions& options);

// The job id from `sbatch --parsable`'s output ("123" or "123;cluster"); ""
// when there is none.
std::string ParseSbatchJobId(std::string_view output);

// What `scontrol show job -o ID` says of a job.
struct SlurmJobRecord {
  std::string state;   // JobState: PENDING, RUNNING, COMPLETING, COMPLETED, FAILED...
  std::string reason;  // Reason: why it pends or failed ("None" when none).
  std::string node;    // BatchHost: where the script runs; "" until it does.
  int exit_code = 0;   // ExitCode=E:S, E: the program's exit status...
  int term_signal = 0;  // ...S: the signal that ended it, 0 if none.

  // No longer pending, running or completing: nothing of it is left on a node.
  bool Finished() const;
  // Started on a node (RUNNING, or already done running).
  bool Started() const;
};

// Reads one record of `scontrol show job -o`. Throws ratchet::Error naming
// the job when the record has no JobState.
SlurmJobRecord ParseScontrolJob(std::string_view job_id, std::string_view output);

}  // namespace ratchet

// Running a train or evaluate command as one job on a Slurm cluster.
//
// SlurmRunner is a ProcessRunner, so the loop can run its measurements on a
// cluster without knowing it (`ratchet run --backend slurm`). Run() writes the job
// script (slurm_job.h) into the folder of the request's stdout log, submits it
// with `sbatch --parsable`, and polls `scontrol show job` until the job is
// over: Slurm's accounting database (sacct) is not needed, since a finished
// job stays visible to scontrol for MinJobAge (300 s by default).
//
// The run folder, and so the request's logs, must be on a path every node
// sees: the job writes a marker file there first thing, and a job that ran
// and left none is reported as a node that cannot see the run folder.
//
// What a RunResult means here:
//   - exit code and signal are the program's (it replaces the job's shell);
//   - kTimedOut: the request's deadline passed, counted from when the job
//     started running (time spent waiting in the queue is not the program's),
//     or Slurm's own --time ended it; kAborted: should_abort returned true
//     (polled while queued as well). Either way the job gets `scancel
//     --signal=TERM --full`, then `scancel` after kill_grace_seconds, and Run()
//     returns only once the job has left the node (not even COMPLETING);
//   - kSpawnFailed: the program could not be executed on the node;
//   - wall_seconds: from submission to the end seen by the runner, so it
//     includes the time queued and up to a poll interval;
//   - job_id and node say where it ran; peak_rss_kb is 0 (not measured).
// Not applied under Slurm: log_cap_bytes (Slurm writes the logs itself) and
// cgroup_procs (the node's own process tracking bounds the job).
//
// ratchet::Error is thrown when the infrastructure breaks: sbatch cannot be
// run, the cluster refuses the job (its message), the job vanishes from the
// controller, or the node cannot see the run folder.
#pragma once

#include "ratchet/runner/runner.h"
#include "ratchet/runner/slurm_job.h"

namespace ratchet {

// Cancels a job a dead controller left (on resume) and waits, up to
// `wait_seconds`, until nothing of it is left on its node. A job the cluster
// no longer knows is fine. Throws Error when scancel cannot be run.
void CancelLeftoverJob(const SlurmOptions& options, const std::string& job_id,
                       double wait_seconds = 60);

class SlurmRunner : public ProcessRunner {
 public:
  explicit SlurmRunner(SlurmOptions options) : options_(std::move(options)) {}
  // REQUIRES: !request.argv.empty(), request.stdout_path is set (its folder
  // holds the job's files) and that folder exists.
  RunResult Run(const RunRequest& request) override;
  // One job for all steps when options.step_runner is set (job_steps.h).
  std::vector<RunResult> RunSteps(const std::vector<RunRequest>& steps,
                                  const std::function<void(size_t)>& before_step) override;

 private:
  SlurmOptions options_;
};

}  // namespace ratchet

// Running a train or evaluate command as one Slurm job started by `srun`.
//
// The same job as SlurmRunner's (the same script, marker and options), but
// allocated and run by a blocking `srun`, a local child of the controller,
// instead of `sbatch` and polling: slurmctld allocates an srun's job when it
// asks, where a batch job waits for the scheduler's next pass (about 1 s on
// the local cluster, bench/RESULTS.md "Parallel experiments"). For runs of
// seconds that is the difference between Slurm costing 5% and 100%.
//
// srun's exit status is the program's (a signal as 128 + N); the deadline and
// Ctrl-C stop srun (SIGTERM, which ends the job), and the job is then
// cancelled and waited for by id, so nothing of it stays on the node. The
// job's id and node come from the marker the job writes first; srun's own
// messages go to `<stem>.srun` beside the logs. A controller killed outright
// takes srun with it (PDEATHSIG); the job's id, reported through on_job, lets
// the next controller cancel what is left.
#pragma once

#include "ratchet/runner/runner.h"
#include "ratchet/runner/slurm_job.h"

namespace ratchet {

class SrunRunner : public ProcessRunner {
 public:
  explicit SrunRunner(SlurmOptions options) : options_(std::move(options)) {}
  // REQUIRES: !request.argv.empty(), request.stdout_path is set and its folder exists.
  RunResult Run(const RunRequest& request) override;
  // One job for all steps when options.step_runner is set (job_steps.h).
  std::vector<RunResult> RunSteps(const std::vector<RunRequest>& steps,
                                  const std::function<void(size_t)>& before_step) override;

 private:
  SlurmOptions options_;
};

// The srun command line that runs `script` for `request`.
std::vector<std::string> SrunArgv(const RunRequest& request, const SlurmOptions& options,
                                  const std::filesystem::path& script);

}  // namespace ratchet

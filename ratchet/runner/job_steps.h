// A measurement's steps (train, then evaluate) as one scheduler job.
//
// Under Slurm each job costs a submission, a scheduling pass and a node-side
// start; for runs of seconds that is a large share of the time, so a
// measurement runs as one job (issue 19: "every measurement is one Slurm
// job"). The controller writes the steps into a plan file in the job's folder;
// on the node, `ratchet-run-steps PLAN RESULTS` runs them one after the other
// with the local runner (the same deadlines, memory limit, log caps and
// peak-memory figures as a local child) and appends one result line per step
// to RESULTS, stopping at the first step that does not succeed. The
// controller reads the results back as if it had run each step itself.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ratchet/runner/runner.h"
#include "ratchet/runner/slurm_job.h"

namespace ratchet {

// What a node needs of a step: every field but the callbacks and cgroup_procs
// (the node's own process tracking bounds a job).
nlohmann::json StepToJson(const RunRequest& step);
// Throws ratchet::Error naming the missing or mistyped field.
RunRequest StepFromJson(const nlohmann::json& json);
nlohmann::json ResultToJson(const RunResult& result);
RunResult ResultFromJson(const nlohmann::json& json);

// The node's side: runs the plan's steps in order and appends each result to
// `results`, stopping after the first that does not succeed. SIGTERM or SIGINT
// (scancel, a dying srun) stops the running step as an abort. Throws
// ratchet::Error, naming the file, when the plan cannot be read.
void RunPlannedSteps(const std::filesystem::path& plan, const std::filesystem::path& results);

// Where a job's own records go for the steps of `run_folder`: its sibling
// `<run folder>.job`. The node writes them while the train command runs, and
// the sandbox lets that command write its run folder but hides the rest of
// the workspace, so it cannot forge the step results, the node or the job id.
std::filesystem::path JobFolder(const std::filesystem::path& run_folder);

// The controller's side: runs `steps` as one job through `job_runner`, whose
// program is `step_runner` + {plan, results} (e.g.
// {"/opt/ratchet/bin/ratchet-run-steps"}), + {hardware file} when
// `hardware` is set: the node then reports itself (RunResult::hardware_json)
// without a probe of its own. The plan, the results and the job's files
// (job.out, job.err, job.hardware, the script and its marker) go into
// JobFolder of steps[0].stdout_path's folder. The job's deadline is
// the steps' deadlines and kill graces added up, plus a margin, so the node's
// deadlines come first; its callbacks are steps[0]'s. Returns one result per
// step that ran, each with the job's id, node and hardware; a step the job
// ended during (its deadline, Ctrl-C, a lost node) gets the job's outcome.
// before_step(i), for each later step that ran, is called once the job is
// over: a job cannot tell its controller when a step starts.
std::vector<RunResult> RunStepsAsOneJob(ProcessRunner& job_runner,
                                        const std::vector<std::string>& step_runner,
                                        const std::vector<RunRequest>& steps,
                                        const std::function<void(size_t)>& before_step,
                                        bool hardware = false);

// RunSteps of a Slurm runner `Runner` (SlurmRunner, SrunRunner) with these
// options: one job when options.step_runner is set, each step a job of its
// own otherwise (`self`, the base class's loop). The step runner reports
// the node's hardware itself, so the job starts no probe.
template <typename Runner>
std::vector<RunResult> RunStepsAsSlurmJob(Runner& self, const SlurmOptions& options,
                                          const std::vector<RunRequest>& steps,
                                          const std::function<void(size_t)>& before_step) {
  if (options.step_runner.empty()) return self.ProcessRunner::RunSteps(steps, before_step);
  SlurmOptions without_probe = options;
  without_probe.hardware_probe.clear();
  Runner job_runner(without_probe);
  return RunStepsAsOneJob(job_runner, options.step_runner, steps, before_step,
                          !options.hardware_probe.empty());
}

}  // namespace ratchet

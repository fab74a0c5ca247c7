#include "ratchet/runner/job_steps.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <system_error>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const char* OutcomeName(RunResult::Outcome outcome) {
  switch (outcome) {
    case RunResult::Outcome::kExited: return "exited";
    case RunResult::Outcome::kSignaled: return "signaled";
    case RunResult::Outcome::kTimedOut: return "timed_out";
    case RunResult::Outcome::kAborted: return "aborted";
    case RunResult::Outcome::kSpawnFailed: return "spawn_failed";
  }
  return "spawn_failed";
}

RunResult::Outcome OutcomeNamed(const std::string& name) {
  for (RunResult::Outcome outcome :
       {RunResult::Outcome::kExited, RunResult::Outcome::kSignaled, RunResult::Outcome::kTimedOut,
        RunResult::Outcome::kAborted, RunResult::Outcome::kSpawnFailed}) {
    if (name == OutcomeName(outcome)) return outcome;
  }
  throw Error("step result: unknown outcome \"" + name + "\"");
}

template <typename T>
T Field(const json& object, const char* key) {
  if (!object.contains(key)) throw Error(std::string("step: missing \"") + key + "\"");
  try {
    return object.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(std::string("step: \"") + key + "\" has the wrong type");
  }
}

std::atomic<bool> stop_requested{false};
extern "C" void RequestStop(int) { stop_requested = true; }

}  // namespace

json StepToJson(const RunRequest& step) {
  return {{"argv", step.argv},
          {"cwd", step.cwd.string()},
          {"stdout", step.stdout_path.string()},
          {"stderr", step.stderr_path.string()},
          {"timeout_seconds", step.timeout_seconds},
          {"kill_grace_seconds", step.kill_grace_seconds},
          {"memory_limit_bytes", step.memory_limit_bytes},
          {"log_cap_bytes", step.log_cap_bytes},
          {"extra_env", step.extra_env},
          {"signal_in_exit_code", step.signal_in_exit_code}};
}

RunRequest StepFromJson(const json& object) {
  if (!object.is_object()) throw Error("step: not a JSON object");
  RunRequest step;
  step.argv = Field<std::vector<std::string>>(object, "argv");
  if (step.argv.empty()) throw Error("step: \"argv\" is empty");
  step.cwd = Field<std::string>(object, "cwd");
  step.stdout_path = Field<std::string>(object, "stdout");
  step.stderr_path = Field<std::string>(object, "stderr");
  step.timeout_seconds = Field<double>(object, "timeout_seconds");
  step.kill_grace_seconds = Field<double>(object, "kill_grace_seconds");
  step.memory_limit_bytes = Field<uint64_t>(object, "memory_limit_bytes");
  step.log_cap_bytes = Field<uint64_t>(object, "log_cap_bytes");
  step.extra_env = Field<std::map<std::string, std::string>>(object, "extra_env");
  step.signal_in_exit_code = Field<bool>(object, "signal_in_exit_code");
  return step;
}

json ResultToJson(const RunResult& result) {
  return {{"outcome", OutcomeName(result.outcome)},
          {"exit_code", result.exit_code},
          {"term_signal", result.term_signal},
          {"wall_seconds", result.wall_seconds},
          {"peak_rss_kb", result.peak_rss_kb},
          {"stdout_bytes", result.stdout_bytes},
          {"stderr_bytes", result.stderr_bytes},
          {"error", result.error}};
}

RunResult ResultFromJson(const json& object) {
  if (!object.is_object()) throw Error("step result: not a JSON object");
  RunResult result;
  result.outcome = OutcomeNamed(Field<std::string>(object, "outcome"));
  result.exit_code = Field<int>(object, "exit_code");
  result.term_signal = Field<int>(object, "term_signal");
  result.wall_seconds = Field<double>(object, "wall_seconds");
  result.peak_rss_kb = Field<int64_t>(object, "peak_rss_kb");
  result.stdout_bytes = Field<uint64_t>(object, "stdout_bytes");
  result.stderr_bytes = Field<uint64_t>(object, "stderr_bytes");
  result.error = Field<std::string>(object, "error");
  return result;
}

void RunPlannedSteps(const fs::path& plan, const fs::path& results) {
  std::vector<RunRequest> steps;
  try {
    const json parsed = json::parse(ReadFile(plan));
    if (!parsed.is_array()) throw Error("not a JSON array of steps");
    for (const json& step : parsed) steps.push_back(StepFromJson(step));
  } catch (const json::exception& error) {
    throw Error(plan.string() + ": not a step plan: " + error.what());
  } catch (const Error& error) {
    throw Error(plan.string() + ": " + error.what());
  }
  struct sigaction stop = {};
  stop.sa_handler = RequestStop;
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);
  std::ofstream out(results, std::ios::trunc);
  if (!out) throw Error(results.string() + ": cannot write the step results");
  PosixProcessRunner runner;
  for (RunRequest& step : steps) {
    step.should_abort = [] { return stop_requested.load(); };
    const RunResult result = runner.Run(step);
    out << ResultToJson(result).dump() << "\n" << std::flush;
    if (!out) throw Error(results.string() + ": cannot write the step results");
    if (!result.Succeeded()) break;
  }
}

fs::path JobFolder(const fs::path& run_folder) {
  fs::path folder = run_folder;
  if (!folder.has_filename()) folder = folder.parent_path();  // a trailing '/'
  return folder.concat(".job");
}

std::vector<RunResult> RunStepsAsOneJob(ProcessRunner& job_runner,
                                        const std::vector<std::string>& step_runner,
                                        const std::vector<RunRequest>& steps,
                                        const std::function<void(size_t)>& before_step,
                                        bool hardware) {
  if (steps.empty()) return {};
  const fs::path folder = fs::absolute(steps[0].stdout_path).parent_path();
  const fs::path job_folder = JobFolder(folder);
  std::error_code ec;
  fs::remove_all(job_folder, ec);  // nothing of an earlier attempt is read back
  fs::create_directories(job_folder, ec);
  if (ec) throw Error(job_folder.string() + ": cannot create the job's folder: " + ec.message());
  const fs::path plan = job_folder / "job.steps.json", results = job_folder / "job.results";
  json planned = json::array();
  RunRequest job;
  job.timeout_seconds = 10;  // margin: the node's own deadlines come first
  bool memory_unlimited = false;
  for (RunRequest step : steps) {
    // The node may start in another folder: every path it gets is absolute.
    step.cwd = fs::absolute(step.cwd.empty() ? fs::current_path() : step.cwd);
    for (fs::path* log : {&step.stdout_path, &step.stderr_path}) {
      if (!log->empty()) *log = fs::absolute(*log);
    }
    planned.push_back(StepToJson(step));
    const bool unbounded = step.timeout_seconds <= 0 || job.timeout_seconds <= 0;
    job.timeout_seconds =
        unbounded ? 0 : job.timeout_seconds + step.timeout_seconds + step.kill_grace_seconds;
    job.kill_grace_seconds = std::max(job.kill_grace_seconds, step.kill_grace_seconds);
    memory_unlimited = memory_unlimited || step.memory_limit_bytes == 0;
    job.memory_limit_bytes = std::max(job.memory_limit_bytes, step.memory_limit_bytes);
  }
  if (memory_unlimited) job.memory_limit_bytes = 0;
  WriteFileFresh(plan, planned.dump(1) + "\n");
  fs::remove(results, ec);
  job.argv = step_runner;
  job.argv.push_back(plan.string());
  job.argv.push_back(results.string());
  const fs::path hardware_file = job_folder / "job.hardware";
  fs::remove(hardware_file, ec);
  if (hardware) job.argv.push_back(hardware_file.string());
  job.cwd = folder;
  job.stdout_path = job_folder / "job.out";
  job.stderr_path = job_folder / "job.err";
  job.on_start = steps[0].on_start;
  job.on_job = steps[0].on_job;
  job.should_abort = steps[0].should_abort;
  RunResult whole = job_runner.Run(job);
  if (hardware && whole.hardware_json.empty() && fs::exists(hardware_file, ec)) {
    whole.hardware_json = ReadFile(hardware_file);
  }

  std::vector<RunResult> ran;
  std::ifstream in(results);
  for (std::string line; ran.size() < steps.size() && std::getline(in, line);) {
    try {
      ran.push_back(ResultFromJson(json::parse(line)));
    } catch (const std::exception& error) {
      throw Error(results.string() + ": line " + std::to_string(ran.size() + 1) + ": " +
                  error.what());
    }
  }
  const bool cut_short = ran.size() < steps.size() && (ran.empty() || ran.back().Succeeded());
  if (cut_short) {
    // The job ended while this step ran, or the step runner itself failed.
    RunResult lost = whole;
    if (whole.outcome != RunResult::Outcome::kTimedOut &&
        whole.outcome != RunResult::Outcome::kAborted) {
      lost.outcome = RunResult::Outcome::kSpawnFailed;
      std::string said = ReadLogTail(job.stderr_path, 400);
      while (!said.empty() && said.back() == '\n') said.pop_back();
      said = said.substr(said.rfind('\n') == std::string::npos ? 0 : said.rfind('\n') + 1);
      lost.error = "the job's step runner " + whole.Describe() + (said.empty() ? "" : ": " + said);
    }
    ran.push_back(lost);
  }
  for (size_t i = 0; i < ran.size(); ++i) {
    if (i > 0 && before_step) before_step(i);
    ran[i].job_id = whole.job_id;
    ran[i].node = whole.node;
    ran[i].hardware_json = whole.hardware_json;
  }
  return ran;
}

}  // namespace ratchet

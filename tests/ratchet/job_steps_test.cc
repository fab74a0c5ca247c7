// A measurement's steps as one job (job_steps.h), run here without a
// scheduler: the plan and results files, ratchet-run-steps on the "node"
// (this machine), and what the controller reads back. The same path on a
// real Slurm cluster is in slurm_runner_test.cc.
#include "ratchet/runner/job_steps.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/store/hardware.h"

namespace fs = std::filesystem;
using ratchet::RunRequest;
using ratchet::RunResult;
using Outcome = ratchet::RunResult::Outcome;

namespace {

std::vector<std::string> Lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class JobStepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "job_steps_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A step running `script` with /bin/sh, its logs <stem>.out/.err in dir_.
  RunRequest Step(const std::string& stem, const std::string& script) {
    RunRequest step;
    step.argv = {"/bin/sh", "-c", script};
    step.cwd = dir_;
    step.stdout_path = dir_ / (stem + ".out");
    step.stderr_path = dir_ / (stem + ".err");
    step.timeout_seconds = 30;
    step.kill_grace_seconds = 1;
    return step;
  }
  void WritePlan(const std::vector<RunRequest>& steps) {
    nlohmann::json plan = nlohmann::json::array();
    for (const RunRequest& step : steps) plan.push_back(ratchet::StepToJson(step));
    ratchet::WriteFileFresh(dir_ / "plan.json", plan.dump());
  }
  std::vector<RunResult> Results() {
    std::vector<RunResult> results;
    for (const std::string& line : Lines(dir_ / "results")) {
      results.push_back(ratchet::ResultFromJson(nlohmann::json::parse(line)));
    }
    return results;
  }
  const std::vector<std::string> step_runner_ = {std::string(RATCHET_BIN_DIR) +
                                                 "/ratchet-run-steps"};
  fs::path dir_;
};

TEST_F(JobStepsTest, StepSurvivesTheTripThroughJson) {
  RunRequest step = Step("train", "echo hi");
  step.memory_limit_bytes = 3u << 30;
  step.log_cap_bytes = 12345;
  step.extra_env = {{"OMP_NUM_THREADS", "2"}};
  step.signal_in_exit_code = true;
  const RunRequest back = ratchet::StepFromJson(ratchet::StepToJson(step));
  EXPECT_EQ(back.argv, step.argv);
  EXPECT_EQ(back.cwd, step.cwd);
  EXPECT_EQ(back.stdout_path, step.stdout_path);
  EXPECT_EQ(back.stderr_path, step.stderr_path);
  EXPECT_EQ(back.timeout_seconds, 30);
  EXPECT_EQ(back.kill_grace_seconds, 1);
  EXPECT_EQ(back.memory_limit_bytes, 3u << 30);
  EXPECT_EQ(back.log_cap_bytes, 12345u);
  EXPECT_EQ(back.extra_env, step.extra_env);
  EXPECT_TRUE(back.signal_in_exit_code);
}

TEST_F(JobStepsTest, ResultSurvivesTheTripThroughJson) {
  RunResult result;
  result.outcome = Outcome::kSignaled;
  result.term_signal = 11;
  result.wall_seconds = 2.5;
  result.peak_rss_kb = 4096;
  result.stdout_bytes = 7;
  result.error = "why";
  const RunResult back = ratchet::ResultFromJson(ratchet::ResultToJson(result));
  EXPECT_EQ(back.outcome, Outcome::kSignaled);
  EXPECT_EQ(back.term_signal, 11);
  EXPECT_EQ(back.exit_code, -1);
  EXPECT_EQ(back.wall_seconds, 2.5);
  EXPECT_EQ(back.peak_rss_kb, 4096);
  EXPECT_EQ(back.stdout_bytes, 7u);
  EXPECT_EQ(back.error, "why");
}

TEST_F(JobStepsTest, PlanErrorsNameTheFileAndTheField) {
  nlohmann::json step = ratchet::StepToJson(Step("train", "true"));
  step.erase("timeout_seconds");
  ratchet::WriteFileFresh(dir_ / "plan.json", nlohmann::json::array({step}).dump());
  try {
    ratchet::RunPlannedSteps(dir_ / "plan.json", dir_ / "results");
    FAIL() << "a plan without timeout_seconds ran";
  } catch (const ratchet::Error& error) {
    EXPECT_EQ(std::string(error.what()),
              (dir_ / "plan.json").string() + ": step: missing \"timeout_seconds\"");
  }
  ratchet::WriteFileFresh(dir_ / "plan.json", "[{\"argv\": ");
  try {
    ratchet::RunPlannedSteps(dir_ / "plan.json", dir_ / "results");
    FAIL() << "a truncated plan ran";
  } catch (const ratchet::Error& error) {
    EXPECT_NE(std::string(error.what()).find((dir_ / "plan.json").string() + ": not a step plan"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(JobStepsTest, NodeRunsStepsInOrderAndStopsAtTheFirstFailure) {
  WritePlan({Step("train", "echo trained > model; echo train-out"),
             Step("eval", "cat model; exit 3"), Step("never", "echo ran > never")});
  ratchet::RunPlannedSteps(dir_ / "plan.json", dir_ / "results");
  const std::vector<RunResult> results = Results();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].Succeeded());
  EXPECT_EQ(results[1].outcome, Outcome::kExited);
  EXPECT_EQ(results[1].exit_code, 3);
  EXPECT_EQ(ratchet::ReadFile(dir_ / "train.out"), "train-out\n");
  EXPECT_EQ(ratchet::ReadFile(dir_ / "eval.out"), "trained\n");  // after train, in its folder
  EXPECT_FALSE(fs::exists(dir_ / "never"));
}

TEST_F(JobStepsTest, NodeEnforcesEachStepsOwnDeadline) {
  RunRequest slow = Step("train", "sleep 20");
  slow.timeout_seconds = 0.5;
  WritePlan({slow, Step("eval", "true")});
  ratchet::RunPlannedSteps(dir_ / "plan.json", dir_ / "results");
  const std::vector<RunResult> results = Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kTimedOut);
  EXPECT_LT(results[0].wall_seconds, 5);
}

TEST_F(JobStepsTest, OneJobRunsBothStepsAndReportsEach) {
  ratchet::PosixProcessRunner job_runner;  // the "scheduler": a local child
  std::vector<size_t> before;
  const std::vector<RunResult> results = ratchet::RunStepsAsOneJob(
      job_runner, step_runner_,
      {Step("train", "echo 42 > model"), Step("eval", "printf '{\"score\": %s}' $(cat model)")},
      [&](size_t i) { before.push_back(i); }, /*hardware=*/true);
  const fs::path job_folder = ratchet::JobFolder(dir_);
  ASSERT_EQ(results.size(), 2u) << ratchet::ReadFile(job_folder / "job.err");
  // The node reported its hardware, for every step.
  const nlohmann::json hardware = nlohmann::json::parse(results[1].hardware_json);
  EXPECT_EQ(hardware.at("fingerprint"), ratchet::DetectHardware().Fingerprint());
  EXPECT_EQ(results[0].hardware_json, results[1].hardware_json);
  EXPECT_TRUE(results[0].Succeeded());
  EXPECT_TRUE(results[1].Succeeded());
  EXPECT_GT(results[0].peak_rss_kb, 0);  // measured where the step ran
  EXPECT_GT(results[1].wall_seconds, 0);
  EXPECT_EQ(ratchet::ReadFile(dir_ / "eval.out"), "{\"score\": 42}");
  EXPECT_EQ(before, std::vector<size_t>{1});
  // The job's own records sit beside the run folder, not in it (JobFolder).
  EXPECT_EQ(job_folder, dir_.string() + ".job");
  EXPECT_EQ(Lines(job_folder / "job.results").size(), 2u);
  EXPECT_TRUE(fs::exists(job_folder / "job.steps.json"));
  EXPECT_FALSE(fs::exists(dir_ / "job.results"));
}

TEST_F(JobStepsTest, AFailedTrainingEndsTheJobWithoutEvaluating) {
  ratchet::PosixProcessRunner job_runner;
  bool evaluated = false;
  const std::vector<RunResult> results = ratchet::RunStepsAsOneJob(
      job_runner, step_runner_, {Step("train", "exit 7"), Step("eval", "echo ran > evaluated")},
      [&](size_t) { evaluated = true; });
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].exit_code, 7);
  EXPECT_FALSE(evaluated);
  EXPECT_FALSE(fs::exists(dir_ / "evaluated"));
}

TEST_F(JobStepsTest, AnAbortedJobAbortsTheStepItWasIn) {
  ratchet::PosixProcessRunner job_runner;
  const auto start = std::chrono::steady_clock::now();
  std::vector<RunRequest> steps = {Step("train", "sleep 20"), Step("eval", "true")};
  steps[0].should_abort = [&] {
    return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(500);
  };
  const std::vector<RunResult> results =
      ratchet::RunStepsAsOneJob(job_runner, step_runner_, steps, nullptr);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kAborted) << results[0].Describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(JobStepsTest, AStepRunnerThatCannotStartIsNamed) {
  ratchet::PosixProcessRunner job_runner;
  const std::vector<RunResult> results = ratchet::RunStepsAsOneJob(
      job_runner, {(dir_ / "no-such-ratchet-run-steps").string()},
      {Step("train", "true"), Step("eval", "true")}, nullptr);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, Outcome::kSpawnFailed);
  EXPECT_NE(results[0].error.find("the job's step runner failed to start"), std::string::npos)
      << results[0].error;
}

}  // namespace

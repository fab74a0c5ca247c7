// SlurmRunner against a real Slurm cluster: scripts/local-slurm's single
// node, started by this program (local_slurm.h). No mock scheduler.
#include "ratchet/runner/slurm_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "local_slurm.h"
#include "ratchet/runner/captured_command.h"
#include "ratchet/runner/srun_runner.h"

namespace fs = std::filesystem;
using ratchet::RunResult;

namespace {

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ShortHostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  std::string host = name;
  return host.substr(0, host.find('.'));
}

// True while pid is a live process (a zombie counts as gone).
bool IsRunning(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// What squeue lists of the job: "" once the cluster is done with it.
std::string Squeue(const std::string& job_id) {
  return ratchet::RunCaptured({"squeue", "-h", "-j", job_id, "-o", "%i %T"}).output;
}

std::string ScontrolShowJob(const std::string& job_id) {
  return ratchet::RunCaptured({"scontrol", "show", "job", "-o", job_id}).output;
}

class SlurmRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RATCHET_REQUIRE_LOCAL_SLURM();
    std::string templ = (fs::temp_directory_path() / "slurm_runner_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A request running `script` with /bin/sh in the run folder dir_.
  ratchet::RunRequest Shell(const std::string& script) {
    ratchet::RunRequest request;
    request.argv = {"/bin/sh", "-c", script};
    request.cwd = dir_;
    request.stdout_path = dir_ / "run.stdout";
    request.stderr_path = dir_ / "run.stderr";
    request.timeout_seconds = 60;  // A safety net: no test should get near it.
    request.kill_grace_seconds = 1;
    return request;
  }
  // The pid the job's program wrote into pid_file, once it has.
  pid_t WaitForPid(const fs::path& pid_file) {
    for (int i = 0; i < 300 && Slurp(pid_file).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return static_cast<pid_t>(std::atoi(Slurp(pid_file).c_str()));
  }

  fs::path dir_;
  ratchet::SlurmOptions options_;
};

TEST_F(SlurmRunnerTest, SuccessfulJobSucceedsAndItsStreamsLandInTheRequestsFiles) {
  ratchet::SlurmRunner runner(options_);
  RunResult r = runner.Run(Shell("echo out; echo err >&2; pwd"));
  EXPECT_TRUE(r.Succeeded()) << r.Describe();
  EXPECT_EQ(r.outcome, RunResult::Outcome::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Slurp(dir_ / "run.stdout"), "out\n" + dir_.string() + "\n");
  EXPECT_EQ(Slurp(dir_ / "run.stderr"), "err\n");
  EXPECT_EQ(r.stderr_bytes, 4u);
  EXPECT_EQ(r.node, ShortHostname());
  EXPECT_GT(r.wall_seconds, 0);
}

TEST_F(SlurmRunnerTest, NonZeroExitCodeIsTheProgramsOwn) {
  ratchet::SlurmRunner runner(options_);
  RunResult r = runner.Run(Shell("exit 3"));
  EXPECT_EQ(r.outcome, RunResult::Outcome::kExited) << r.Describe();
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.Describe(), "exit 3");
}

TEST_F(SlurmRunnerTest, DeathBySignalIsReported) {
  ratchet::SlurmRunner runner(options_);
  RunResult r = runner.Run(Shell("kill -SEGV $$"));
  EXPECT_EQ(r.outcome, RunResult::Outcome::kSignaled) << r.Describe();
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_EQ(r.Describe(), "killed by SIGSEGV");
}

TEST_F(SlurmRunnerTest, ExtraEnvReachesTheJob) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("printf '%s' \"$RATCHET_TEST_VALUE\"");
  request.extra_env = {{"RATCHET_TEST_VALUE", "a b 'c' $d, e=f"}};
  EXPECT_TRUE(runner.Run(request).Succeeded());
  EXPECT_EQ(Slurp(dir_ / "run.stdout"), "a b 'c' $d, e=f");
}

TEST_F(SlurmRunnerTest, JobIdIsReportedAtSubmitAndStartAndTheControllerKnowsIt) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("true");
  std::vector<std::pair<std::string, std::string>> calls;
  request.on_job = [&](const std::string& job_id, const std::string& node) {
    calls.emplace_back(job_id, node);
  };
  RunResult r = runner.Run(request);
  ASSERT_TRUE(r.Succeeded()) << r.Describe();
  ASSERT_FALSE(r.job_id.empty());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::make_pair(r.job_id, std::string()));
  EXPECT_EQ(calls[1], std::make_pair(r.job_id, ShortHostname()));
  const std::string record = ScontrolShowJob(r.job_id);
  EXPECT_NE(record.find("JobId=" + r.job_id + " "), std::string::npos) << record;
  EXPECT_NE(record.find("JobName=ratchet "), std::string::npos) << record;
  EXPECT_NE(record.find("JobState=COMPLETED "), std::string::npos) << record;
}

TEST_F(SlurmRunnerTest, DeadlineCancelsTheJobAndNothingOfItKeepsRunning) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("echo $$ > program.pid; exec sleep 300");
  request.timeout_seconds = 1.5;
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kTimedOut) << r.Describe();
  EXPECT_GE(r.wall_seconds, 1.5);
  EXPECT_LT(r.wall_seconds, 30);
  EXPECT_EQ(Squeue(r.job_id), "");
  const pid_t program = WaitForPid(dir_ / "program.pid");
  ASSERT_GT(program, 1);
  EXPECT_FALSE(IsRunning(program));
}

TEST_F(SlurmRunnerTest, ProgramIgnoringSigtermIsKilledAfterTheGrace) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request =
      Shell("trap '' TERM; echo $$ > program.pid; while true; do sleep 0.1; done");
  request.timeout_seconds = 1;
  request.kill_grace_seconds = 0.5;
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kTimedOut) << r.Describe();
  EXPECT_EQ(Squeue(r.job_id), "");
  const pid_t program = WaitForPid(dir_ / "program.pid");
  ASSERT_GT(program, 1);
  EXPECT_FALSE(IsRunning(program));
}

TEST_F(SlurmRunnerTest, ShouldAbortCancelsARunningJob) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("echo $$ > program.pid; exec sleep 300");
  request.should_abort = [&] { return fs::exists(dir_ / "program.pid"); };
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kAborted) << r.Describe();
  EXPECT_EQ(Squeue(r.job_id), "");
  EXPECT_FALSE(IsRunning(WaitForPid(dir_ / "program.pid")));
}

TEST_F(SlurmRunnerTest, ShouldAbortCancelsAJobStillInTheQueue) {
  options_.extra_args = {"--hold"};  // Pends until released: never runs.
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("touch ran");
  int polls = 0;
  request.should_abort = [&] { return ++polls > 3; };
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kAborted) << r.Describe();
  EXPECT_EQ(r.node, "");
  EXPECT_NE(ScontrolShowJob(r.job_id).find("JobState=CANCELLED "), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "ran"));
}

// What --parallel 2 will do: one runner, two threads, two jobs on the
// node's two CPUs at once. Each job waits (up to 20 s) for the other's
// marker, so both succeed only if they ran at the same time.
TEST_F(SlurmRunnerTest, TwoRunsFromTwoThreadsRunAsTwoJobsAtOnce) {
  ratchet::SlurmRunner runner(options_);
  auto request_for = [&](const std::string& me, const std::string& other) {
    ratchet::RunRequest request =
        Shell("touch " + me + ".here; for i in $(seq 200); do [ -e " + other +
              ".here ] && exit 0; sleep 0.1; done; exit 1");
    request.stdout_path = dir_ / (me + ".stdout");
    request.stderr_path = dir_ / (me + ".stderr");
    return request;
  };
  RunResult a, b;
  std::thread other([&] { b = runner.Run(request_for("b", "a")); });
  a = runner.Run(request_for("a", "b"));
  other.join();
  EXPECT_TRUE(a.Succeeded()) << a.Describe();
  EXPECT_TRUE(b.Succeeded()) << b.Describe();
  EXPECT_NE(a.job_id, b.job_id);
}

TEST_F(SlurmRunnerTest, ProgramThatCannotBeExecutedFailsToStart) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("");
  request.argv = {(dir_ / "no-such-program").string()};
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kSpawnFailed) << r.Describe();
  EXPECT_NE(r.error.find("cannot execute " + request.argv[0] + " on node " + ShortHostname()),
            std::string::npos)
      << r.error;
}

TEST_F(SlurmRunnerTest, MemoryLimitBoundsTheJobsAddressSpace) {
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("ulimit -v");
  request.memory_limit_bytes = 256 << 20;
  ASSERT_TRUE(runner.Run(request).Succeeded());
  EXPECT_EQ(Slurp(dir_ / "run.stdout"), "262144\n");
}

TEST_F(SlurmRunnerTest, BadPartitionIsTheClustersOneLineRefusal) {
  options_.partition = "no-such-partition";
  ratchet::SlurmRunner runner(options_);
  try {
    runner.Run(Shell("true"));
    FAIL() << "expected the cluster to refuse the job";
  } catch (const ratchet::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("sbatch refused " + (dir_ / "run.sbatch").string()), std::string::npos)
        << message;
    EXPECT_NE(message.find("Invalid partition name specified"), std::string::npos) << message;
  }
}

TEST_F(SlurmRunnerTest, MissingSbatchIsAOneLineError) {
  options_.sbatch = (dir_ / "no-sbatch").string();
  ratchet::SlurmRunner runner(options_);
  try {
    runner.Run(Shell("true"));
    FAIL() << "expected an error";
  } catch (const ratchet::Error& e) {
    EXPECT_EQ(std::string(e.what()), "slurm: cannot execute " + options_.sbatch +
                                         ": No such file or directory (is Slurm's client "
                                         "installed and on PATH?)");
  }
}

// A node that cannot see the run folder, made real: the job is held, its
// folder removed while it waits, then released.
TEST_F(SlurmRunnerTest, NodeThatCannotSeeTheRunFolderIsAnError) {
  options_.extra_args = {"--hold"};
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("true");
  request.cwd = "/";
  request.on_job = [&](const std::string& job_id, const std::string& node) {
    if (!node.empty()) return;
    fs::remove_all(dir_);
    ratchet::RunCaptured({"scontrol", "release", job_id});
  };
  try {
    runner.Run(request);
    FAIL() << "expected an error";
  } catch (const ratchet::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot see the run folder " + dir_.string()), std::string::npos)
        << message;
  }
}

}  // namespace

namespace {

// Slurm would run a job whose working directory is missing in /tmp.
TEST_F(SlurmRunnerTest, WorkingDirectoryTheNodeCannotEnterIsAnError) {
  options_.extra_args = {"--hold"};
  ratchet::SlurmRunner runner(options_);
  ratchet::RunRequest request = Shell("touch " + (dir_ / "ran").string());
  request.cwd = dir_ / "work";
  fs::create_directory(request.cwd);
  request.on_job = [&](const std::string& job_id, const std::string& node) {
    if (!node.empty()) return;
    fs::remove(request.cwd);
    ratchet::RunCaptured({"scontrol", "release", job_id});
  };
  try {
    runner.Run(request);
    FAIL() << "expected an error";
  } catch (const ratchet::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot enter its working directory " + request.cwd.string()),
              std::string::npos)
        << message;
  }
  EXPECT_FALSE(fs::exists(dir_ / "ran"));
}

}  // namespace

// The srun flavour: the same jobs, started by a blocking srun.
namespace {

using SrunRunnerTest = SlurmRunnerTest;

TEST_F(SrunRunnerTest, ExitCodeSignalLogsAndJobIdAreThePrograms) {
  ratchet::SrunRunner runner(options_);
  std::vector<std::string> reported;
  ratchet::RunRequest request = Shell("echo out; echo err >&2; exit 3");
  request.on_job = [&](const std::string& id, const std::string& node) {
    reported.push_back(id + "@" + node);
  };
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kExited) << r.Describe();
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(Slurp(dir_ / "run.stdout"), "out\n");
  EXPECT_EQ(Slurp(dir_ / "run.stderr"), "err\n");
  ASSERT_FALSE(r.job_id.empty());
  EXPECT_EQ(r.node, ShortHostname());
  EXPECT_EQ(reported, std::vector<std::string>{r.job_id + "@" + r.node});
  EXPECT_NE(ScontrolShowJob(r.job_id).find("JobName=ratchet"), std::string::npos);

  r = runner.Run(Shell("kill -SEGV $$"));
  EXPECT_EQ(r.outcome, RunResult::Outcome::kSignaled) << r.Describe();
  EXPECT_EQ(r.term_signal, SIGSEGV);
}

TEST_F(SrunRunnerTest, DeadlineEndsTheJobAndNothingOfItKeepsRunning) {
  ratchet::SrunRunner runner(options_);
  ratchet::RunRequest request = Shell("echo $$ > program.pid; exec sleep 300");
  request.timeout_seconds = 1.5;
  RunResult r = runner.Run(request);
  EXPECT_EQ(r.outcome, RunResult::Outcome::kTimedOut) << r.Describe();
  EXPECT_LT(r.wall_seconds, 30);
  ASSERT_FALSE(r.job_id.empty());
  EXPECT_EQ(Squeue(r.job_id), "");
  const pid_t program = WaitForPid(dir_ / "program.pid");
  ASSERT_GT(program, 1);
  EXPECT_FALSE(IsRunning(program));
}

TEST_F(SrunRunnerTest, BadPartitionIsTheClustersOneLineRefusal) {
  options_.partition = "no-such-partition";
  ratchet::SrunRunner runner(options_);
  try {
    runner.Run(Shell("true"));
    FAIL() << "expected the cluster to refuse the job";
  } catch (const ratchet::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("srun refused " + (dir_ / "run.sbatch").string()), std::string::npos)
        << message;
    EXPECT_NE(message.find("Invalid partition name specified"), std::string::npos) << message;
  }
}

}  // namespace

// A measurement's steps as one job (job_steps.h), through both runners.
namespace {

class SlurmStepsTest : public SlurmRunnerTest, public ::testing::WithParamInterface<std::string> {
 protected:
  std::unique_ptr<ratchet::ProcessRunner> Runner() {
    options_.step_runner = {std::string(RATCHET_BIN_DIR) + "/ratchet-run-steps"};
    if (GetParam() == "srun") return std::make_unique<ratchet::SrunRunner>(options_);
    return std::make_unique<ratchet::SlurmRunner>(options_);
  }
  ratchet::RunRequest Step(const std::string& stem, const std::string& script) {
    ratchet::RunRequest step = Shell(script);
    step.stdout_path = dir_ / (stem + ".out");
    step.stderr_path = dir_ / (stem + ".err");
    return step;
  }
};

TEST_P(SlurmStepsTest, TrainAndEvaluateRunAsOneJobOnTheNode) {
  std::unique_ptr<ratchet::ProcessRunner> runner = Runner();
  std::vector<std::string> jobs;
  std::vector<ratchet::RunRequest> steps = {
      Step("train", "echo $SLURM_JOB_ID > model"),
      Step("eval", "printf 'job %s' $(cat model); echo err >&2")};
  steps[0].on_job = [&](const std::string& id, const std::string&) {
    if (jobs.empty() || jobs.back() != id) jobs.push_back(id);
  };
  std::vector<size_t> before;
  const std::vector<RunResult> results =
      runner->RunSteps(steps, [&](size_t i) { before.push_back(i); });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].Succeeded()) << results[0].Describe();
  EXPECT_TRUE(results[1].Succeeded()) << results[1].Describe();
  ASSERT_EQ(jobs.size(), 1u);  // one submission for both steps
  EXPECT_EQ(results[0].job_id, jobs[0]);
  EXPECT_EQ(results[1].job_id, jobs[0]);
  EXPECT_EQ(results[1].node, ShortHostname());
  EXPECT_EQ(Slurp(dir_ / "eval.out"), "job " + jobs[0]);  // evaluate saw train's file
  EXPECT_EQ(Slurp(dir_ / "eval.err"), "err\n");
  EXPECT_GT(results[0].peak_rss_kb, 0);  // measured on the node
  EXPECT_EQ(before, std::vector<size_t>{1});
  EXPECT_NE(ScontrolShowJob(jobs[0]).find("JobState=COMPLETED"), std::string::npos);
}

TEST_P(SlurmStepsTest, TrainPastItsDeadlineEndsTheJobWithoutEvaluating) {
  std::unique_ptr<ratchet::ProcessRunner> runner = Runner();
  std::vector<ratchet::RunRequest> steps = {Step("train", "echo $$ > program.pid; exec sleep 300"),
                                            Step("eval", "echo ran > evaluated")};
  steps[0].timeout_seconds = 1.5;
  const std::vector<RunResult> results = runner->RunSteps(steps, nullptr);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, RunResult::Outcome::kTimedOut) << results[0].Describe();
  EXPECT_LT(results[0].wall_seconds, 10);
  EXPECT_FALSE(fs::exists(dir_ / "evaluated"));
  ASSERT_FALSE(results[0].job_id.empty());
  EXPECT_EQ(Squeue(results[0].job_id), "");
  const pid_t program = WaitForPid(dir_ / "program.pid");
  ASSERT_GT(program, 1);
  EXPECT_FALSE(IsRunning(program));
}

INSTANTIATE_TEST_SUITE_P(Submit, SlurmStepsTest, ::testing::Values("sbatch", "srun"));

}  // namespace

// The Slurm job's text: its script (run here with bash, as a node would), the
// sbatch command line, and reading sbatch's and scontrol's answers. No
// cluster needed; slurm_runner_test.cc runs the real thing.
#include "ratchet/runner/slurm_job.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"
#include "ratchet/runner/runner.h"

namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool Has(const std::vector<std::string>& argv, const std::string& arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

class SlurmJobScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "slurm_job_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the job script with bash as slurmd would on node `n1`: stdout to
  // out.log. Returns bash's wait status.
  int RunScript(const ratchet::RunRequest& request) {
    std::ofstream(dir_ / "job.sbatch") << ratchet::SlurmJobScript(request, dir_ / "job.started");
    const std::string command = "cd " + ratchet::ShellQuote(dir_.string()) +
                                " && SLURMD_NODENAME=n1 bash job.sbatch > out.log 2> err.log";
    return std::system(command.c_str());
  }

  fs::path dir_;
};

TEST(ShellQuoteTest, QuotesSingleQuotesSpacesAndDollars) {
  EXPECT_EQ(ratchet::ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ratchet::ShellQuote("it's $HOME"), "'it'\\''s $HOME'");
  EXPECT_EQ(ratchet::ShellQuote(""), "''");
}

TEST_F(SlurmJobScriptTest, ScriptWritesTheMarkerThenRunsTheProgramWithItsArgumentsAndEnv) {
  ratchet::RunRequest request;
  request.argv = {"/bin/sh", "-c", "printf '%s|%s' \"$1\" \"$GREETING\"", "sh", "a 'b' $c"};
  request.extra_env = {{"GREETING", "hello 'world' $x"}};
  EXPECT_EQ(RunScript(request), 0);
  EXPECT_EQ(Slurp(dir_ / "job.started"), "n1\n");
  EXPECT_EQ(Slurp(dir_ / "out.log"), "a 'b' $c|hello 'world' $x");
}

TEST_F(SlurmJobScriptTest, ProgramsExitCodeIsTheScripts) {
  ratchet::RunRequest request;
  request.argv = {"/bin/sh", "-c", "exit 3"};
  const int status = RunScript(request);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_F(SlurmJobScriptTest, MemoryLimitBecomesTheAddressSpaceLimit) {
  ratchet::RunRequest request;
  request.argv = {"/bin/sh", "-c", "ulimit -v"};
  request.memory_limit_bytes = 64 << 20;
  EXPECT_EQ(RunScript(request), 0);
  EXPECT_EQ(Slurp(dir_ / "out.log"), "65536\n");
}

TEST_F(SlurmJobScriptTest, ProgramThatCannotBeExecutedIsMarkedAndExits127) {
  ratchet::RunRequest request;
  request.argv = {dir_.string() + "/no-such-program"};
  const int status = RunScript(request);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 127);
  EXPECT_EQ(Slurp(dir_ / "job.started"), "n1\nexec-failed\n");
}

TEST_F(SlurmJobScriptTest, MissingWorkingDirectoryIsMarkedAndEndsTheJob) {
  ratchet::RunRequest request;
  request.argv = {"/bin/sh", "-c", "touch ran"};
  request.cwd = dir_ / "not-here";
  const int status = RunScript(request);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 126);
  EXPECT_EQ(Slurp(dir_ / "job.started"), "n1\nchdir-failed\n");
  EXPECT_FALSE(fs::exists(dir_ / "ran"));
}

TEST_F(SlurmJobScriptTest, ScriptEntersTheWorkingDirectory) {
  fs::create_directory(dir_ / "work");
  ratchet::RunRequest request;
  request.argv = {"/bin/sh", "-c", "pwd"};
  request.cwd = dir_ / "work";
  EXPECT_EQ(RunScript(request), 0);
  EXPECT_EQ(Slurp(dir_ / "out.log"), (dir_ / "work").string() + "\n");
}

TEST(SbatchArgvTest, CarriesLogsCwdResourcesPartitionAndExtraArgs) {
  ratchet::RunRequest request;
  request.argv = {"train"};
  request.cwd = "/shared/run";
  request.stdout_path = "/shared/run/train.stdout";
  request.stderr_path = "/shared/run/train.stderr";
  request.timeout_seconds = 100;
  request.kill_grace_seconds = 5;
  request.memory_limit_bytes = (3u << 30) + 1;
  ratchet::SlurmOptions options;
  options.partition = "gpu";
  options.cpus_per_task = 4;
  options.extra_args = {"--account=lab", "--qos=low"};
  const auto argv = ratchet::SbatchArgv(request, options, "/shared/run/train.sbatch");
  EXPECT_EQ(argv.front(), "sbatch");
  EXPECT_EQ(argv.back(), "/shared/run/train.sbatch");
  EXPECT_TRUE(Has(argv, "--parsable"));
  EXPECT_TRUE(Has(argv, "--chdir=/shared/run"));
  EXPECT_TRUE(Has(argv, "--output=/shared/run/train.stdout"));
  EXPECT_TRUE(Has(argv, "--error=/shared/run/train.stderr"));
  EXPECT_TRUE(Has(argv, "--cpus-per-task=4"));
  EXPECT_TRUE(Has(argv, "--mem=3073M"));   // Rounded up to whole MiB.
  EXPECT_TRUE(Has(argv, "--time=3"));      // 100 + 5 + 60 s, in whole minutes up.
  EXPECT_TRUE(Has(argv, "--partition=gpu"));
  EXPECT_TRUE(Has(argv, "--account=lab"));
  EXPECT_TRUE(Has(argv, "--qos=low"));
}

TEST(SbatchArgvTest, NoLimitsMeansNoMemTimeOrPartitionAndDiscardedLogsGoToDevNull) {
  ratchet::RunRequest request;
  request.argv = {"train"};
  request.cwd = "/shared/run";
  const auto argv = ratchet::SbatchArgv(request, ratchet::SlurmOptions{}, "/shared/run/x.sbatch");
  EXPECT_TRUE(Has(argv, "--output=/dev/null"));
  EXPECT_TRUE(Has(argv, "--error=/dev/null"));
  for (const std::string& arg : argv) {
    EXPECT_NE(arg.rfind("--mem", 0), 0u) << arg;
    EXPECT_NE(arg.rfind("--time", 0), 0u) << arg;
    EXPECT_NE(arg.rfind("--partition", 0), 0u) << arg;
  }
}

TEST(ParseSbatchJobIdTest, ReadsTheIdFromTheLastLine) {
  EXPECT_EQ(ratchet::ParseSbatchJobId("123\n"), "123");
  EXPECT_EQ(ratchet::ParseSbatchJobId("77;cluster\n"), "77");
  EXPECT_EQ(ratchet::ParseSbatchJobId("sbatch: warning: something\n45\n"), "45");
  EXPECT_EQ(ratchet::ParseSbatchJobId("sbatch: error: Batch job submission failed\n"), "");
  EXPECT_EQ(ratchet::ParseSbatchJobId(""), "");
}

TEST(ParseScontrolJobTest, ReadsStateNodeAndExitCode) {
  const auto done = ratchet::ParseScontrolJob(
      "12", "JobId=12 JobName=ratchet JobState=FAILED Reason=NonZeroExitCode Dependency=(null) "
            "ExitCode=3:0 RunTime=00:00:01 NodeList=vm BatchHost=vm NumNodes=1\n");
  EXPECT_EQ(done.state, "FAILED");
  EXPECT_EQ(done.reason, "NonZeroExitCode");
  EXPECT_EQ(done.node, "vm");
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(done.term_signal, 0);
  EXPECT_TRUE(done.Finished());
  EXPECT_TRUE(done.Started());

  const auto killed = ratchet::ParseScontrolJob("13", "JobId=13 JobState=FAILED ExitCode=0:9 BatchHost=vm");
  EXPECT_EQ(killed.exit_code, 0);
  EXPECT_EQ(killed.term_signal, 9);

  const auto pending =
      ratchet::ParseScontrolJob("14", "JobId=14 JobState=PENDING Reason=JobHeldUser ExitCode=0:0");
  EXPECT_FALSE(pending.Finished());
  EXPECT_FALSE(pending.Started());
  EXPECT_EQ(pending.node, "");

  const auto completing =
      ratchet::ParseScontrolJob("15", "JobId=15 JobState=COMPLETING ExitCode=0:15 BatchHost=vm");
  EXPECT_FALSE(completing.Finished());
  EXPECT_TRUE(completing.Started());
}

TEST(ParseScontrolJobTest, RecordWithoutJobStateIsAnErrorNamingTheJob) {
  try {
    ratchet::ParseScontrolJob("99", "slurm_load_jobs error: Invalid job id specified\n");
    FAIL() << "expected an error";
  } catch (const ratchet::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "slurm job 99: scontrol show job gave no JobState "
              "(slurm_load_jobs error: Invalid job id specified)");
  }
}

}  // namespace

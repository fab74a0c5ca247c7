// scripts/local-slurm itself: start is idempotent, stop leaves nothing behind.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "local_slurm.h"
#include "ratchet/runner/captured_command.h"

namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool IsRunning(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// The pids of live processes named `comm`.
std::vector<pid_t> ProcessesNamed(const std::string& comm) {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string line = Slurp(entry.path() / "comm");
    if (!line.empty() && line.back() == '\n') line.pop_back();
    const pid_t pid = std::atoi(name.c_str());
    if (line == comm && IsRunning(pid)) pids.push_back(pid);
  }
  return pids;
}

class LocalSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RATCHET_REQUIRE_LOCAL_SLURM();
    state_dir_ = fs::path(std::getenv("SLURM_CONF")).parent_path();
  }
  // The daemons' pids from their pid files (0: no file).
  std::vector<pid_t> DaemonPids() {
    std::vector<pid_t> pids;
    for (const char* daemon : {"munged", "slurmctld", "slurmd"}) {
      pids.push_back(std::atoi(Slurp(state_dir_ / "run" / (std::string(daemon) + ".pid")).c_str()));
    }
    return pids;
  }
  ratchet::CommandOutput Script(const std::string& command) {
    return ratchet::RunCaptured({ratchet::testing::LocalSlurmScript(), command});
  }

  fs::path state_dir_;
};

TEST_F(LocalSlurmTest, StartTwiceKeepsTheRunningDaemonsAndStopLeavesNothingRunning) {
  const std::vector<pid_t> before = DaemonPids();
  for (pid_t pid : before) ASSERT_TRUE(IsRunning(pid)) << pid;

  ratchet::CommandOutput again = Script("start");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("export SLURM_CONF=" + (state_dir_ / "slurm.conf").string()),
            std::string::npos)
      << again.output;
  EXPECT_EQ(DaemonPids(), before);
  ratchet::CommandOutput status = Script("status");
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_EQ(status.output.rfind("running (", 0), 0u) << status.output;

  // A job still running when the cluster stops must not outlive it.
  const fs::path pid_file = state_dir_ / "local_slurm_test.pid";
  fs::remove(pid_file);
  ratchet::CommandOutput submit = ratchet::RunCaptured(
      {"sbatch", "--parsable", "--output=/dev/null", "--wrap", "echo $$ > " + pid_file.string() +
                                                                  "; exec sleep 300"});
  ASSERT_EQ(submit.exit_code, 0) << submit.output;
  for (int i = 0; i < 200 && Slurp(pid_file).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const pid_t job_program = std::atoi(Slurp(pid_file).c_str());
  ASSERT_GT(job_program, 1);
  ASSERT_TRUE(IsRunning(job_program));

  ratchet::CommandOutput stop = Script("stop");
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  for (pid_t pid : before) EXPECT_FALSE(IsRunning(pid)) << pid;
  EXPECT_FALSE(IsRunning(job_program));
  EXPECT_EQ(ProcessesNamed("slurmstepd"), std::vector<pid_t>{});
  status = Script("status");
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_EQ(status.output, "not running\n");
  fs::remove(pid_file);

  // Back as it was for the other tests (and stopped at the end unless it was
  // running before the program started).
  ratchet::CommandOutput restart = Script("start");
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  EXPECT_NE(DaemonPids(), before);
  for (pid_t pid : DaemonPids()) EXPECT_TRUE(IsRunning(pid)) << pid;
}

}  // namespace

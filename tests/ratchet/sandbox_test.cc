// The sandbox's argv and exit statuses, without starting it (the real
// bubblewrap runs in sandbox_e2e_test).
#include "ratchet/runner/sandbox.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>

#include "ratchet/runner/runner.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

// Index of the mount option for `path` in argv, or -1.
int MountOf(const std::vector<std::string>& argv, const std::string& option, const fs::path& path) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == option && argv[i + 1] == path.string()) return static_cast<int>(i);
  }
  return -1;
}

TEST(SandboxArgv, BindsToolsThenHidesThenGivesBackInThatOrder) {
  const fs::path root = fs::temp_directory_path() / "ratchet-sandbox-argv-test";
  fs::create_directories(root);  // only existing paths are mounted
  SandboxPolicy policy;
  policy.tools = {"/usr"};
  policy.hidden = {root};
  policy.read_only = {"/etc"};
  policy.writable = {"/var"};
  policy.cwd = "/var";
  const std::vector<std::string> argv = SandboxArgv(policy, {"train", "--seed", "1"});
  const int tool = MountOf(argv, "--ro-bind", "/usr"), hidden = MountOf(argv, "--tmpfs", root);
  const int given = MountOf(argv, "--ro-bind", "/etc"), writable = MountOf(argv, "--bind", "/var");
  ASSERT_GE(tool, 0);
  EXPECT_LT(MountOf(argv, "--tmpfs", "/tmp"), tool);  // the private /tmp before the tools
  EXPECT_LT(tool, hidden);
  EXPECT_LT(hidden, given);
  EXPECT_LT(given, writable);
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--unshare-net"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--unshare-pid"), argv.end());
  const std::vector<std::string> tail(argv.end() - 4, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"--", "train", "--seed", "1"}));
  fs::remove(root);
}

TEST(SandboxArgv, SkipsPathsThatDoNotExistAndKeepsTheNetworkWhenAllowed) {
  SandboxPolicy policy;
  policy.read_only = {"/no/such/folder"};
  policy.network = true;
  const std::vector<std::string> argv = SandboxArgv(policy, {"agent"});
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "/no/such/folder"), argv.end());
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "--unshare-net"), argv.end());
}

TEST(RestoreChildSignal, TurnsBwrapsExitStatusBackIntoTheSignal) {
  RunResult killed;
  killed.outcome = RunResult::Outcome::kExited;
  killed.exit_code = 128 + SIGABRT;
  RestoreChildSignal(killed);
  EXPECT_EQ(killed.outcome, RunResult::Outcome::kSignaled);
  EXPECT_EQ(killed.term_signal, SIGABRT);
  EXPECT_EQ(killed.Describe(), "killed by SIGABRT");
  RunResult exited;
  exited.outcome = RunResult::Outcome::kExited;
  exited.exit_code = 3;
  RestoreChildSignal(exited);
  EXPECT_EQ(exited.outcome, RunResult::Outcome::kExited);
  EXPECT_EQ(exited.exit_code, 3);
}

}  // namespace
}  // namespace ratchet

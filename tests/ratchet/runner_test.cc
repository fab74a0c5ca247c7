#include "ratchet/runner/runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "ratchet/runner/log_capture.h"
#include "ratchet/runner/process_limit.h"

namespace fs = std::filesystem;

namespace {

// The test binary doubles as a child that allocates memory (what /bin/sh
// cannot do precisely): RATCHET_RUNNER_TEST_ALLOC_MB=N allocates and touches
// N MiB, prints "allocated" and exits 0, or prints "alloc failed" and exits 2;
// RATCHET_RUNNER_TEST_HOLD_MS=M keeps the memory M ms before it exits.
// It runs before gtest's main, so the child never starts the test suite.
char* volatile g_keep_allocation;
int RunAsAllocatingChildIfAsked() {
  const char* mb = std::getenv("RATCHET_RUNNER_TEST_ALLOC_MB");
  if (!mb) return 0;
  size_t bytes = std::strtoull(mb, nullptr, 10) << 20;
  char* p = static_cast<char*>(std::malloc(bytes));
  if (!p) {
    std::puts("alloc failed");
    std::fflush(stdout);
    ::_exit(2);
  }
  std::memset(p, 1, bytes);
  g_keep_allocation = p;  // Escapes, so neither malloc nor memset can be elided.
  std::puts("allocated");
  std::fflush(stdout);
  if (const char* hold = std::getenv("RATCHET_RUNNER_TEST_HOLD_MS")) {
    ::usleep(std::atoi(hold) * 1000);
  }
  ::_exit(0);
}
[[maybe_unused]] const int kChildMode = RunAsAllocatingChildIfAsked();

std::string SelfExe() { return fs::read_symlink("/proc/self/exe").string(); }

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// True while pid is a live process (a zombie waiting for init counts as gone).
bool IsRunning(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

// Polls IsRunning for up to a second: a SIGKILLed process takes a moment to go.
bool StopsRunningSoon(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    if (!IsRunning(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "runner_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A request running `script` with /bin/sh, logs in the temp dir.
  ratchet::RunRequest Shell(const std::string& script) {
    ratchet::RunRequest request;
    request.argv = {"/bin/sh", "-c", script};
    request.stdout_path = dir_ / "stdout.log";
    request.stderr_path = dir_ / "stderr.log";
    request.timeout_seconds = 20;  // A safety net: no test should get near it.
    return request;
  }
  std::string Stdout() { return Slurp(dir_ / "stdout.log"); }

  fs::path dir_;
  ratchet::PosixProcessRunner runner_;
};

TEST_F(RunnerTest, SuccessfulCommandSucceedsAndCapturesBothStreams) {
  ratchet::RunResult r = runner_.Run(Shell("echo out; echo err >&2"));
  EXPECT_TRUE(r.Succeeded());
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.Describe(), "exit 0");
  EXPECT_EQ(Stdout(), "out\n");
  EXPECT_EQ(Slurp(dir_ / "stderr.log"), "err\n");
  EXPECT_EQ(r.stdout_bytes, 4u);
  EXPECT_EQ(r.stderr_bytes, 4u);
  EXPECT_GT(r.wall_seconds, 0);
}

TEST_F(RunnerTest, NonZeroExitCodeIsReported) {
  ratchet::RunResult r = runner_.Run(Shell("exit 3"));
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kExited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.Describe(), "exit 3");
}

TEST_F(RunnerTest, DeathBySignalIsReported) {
  ratchet::RunResult r = runner_.Run(Shell("kill -SEGV $$"));
  EXPECT_FALSE(r.Succeeded());
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSignaled);
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.Describe(), "killed by SIGSEGV");
}

TEST_F(RunnerTest, ProgramWithoutSlashIsFoundInPath) {
  ratchet::RunRequest request = Shell("");
  request.argv = {"true"};
  EXPECT_TRUE(runner_.Run(request).Succeeded());
}

TEST_F(RunnerTest, TimeoutKillsTheChildAndItsGrandchildAndKeepsTheLogs) {
  ratchet::RunRequest request = Shell("echo started; sleep 60 & echo $! > grandchild.pid; wait");
  request.cwd = dir_;
  request.timeout_seconds = 0.3;
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kTimedOut);
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_GE(r.wall_seconds, 0.3);
  EXPECT_LT(r.wall_seconds, 3.0);
  EXPECT_EQ(r.Describe().rfind("timed out after 0.", 0), 0u) << r.Describe();
  EXPECT_EQ(Stdout(), "started\n");
  pid_t grandchild = std::stoi(Slurp(dir_ / "grandchild.pid"));
  EXPECT_TRUE(StopsRunningSoon(grandchild));
}

TEST_F(RunnerTest, ChildIgnoringSigtermIsKilledAfterTheGrace) {
  // The ignored SIGTERM is inherited by sleep, so neither process dies of it.
  ratchet::RunRequest request = Shell("trap '' TERM; sleep 60 & echo $! > grandchild.pid; wait");
  request.cwd = dir_;
  request.timeout_seconds = 0.2;
  request.kill_grace_seconds = 0.4;
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kTimedOut);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_GE(r.wall_seconds, 0.6);
  EXPECT_LT(r.wall_seconds, 3.0);
  EXPECT_TRUE(StopsRunningSoon(std::stoi(Slurp(dir_ / "grandchild.pid"))));
}

TEST_F(RunnerTest, GrandchildLeftBehindIsKilledWhenTheChildExits) {
  // The background sleep holds the stdout pipe open: without killing the
  // group the runner would wait for it for a minute.
  ratchet::RunRequest request = Shell("sleep 60 & echo $!");
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_TRUE(r.Succeeded());
  EXPECT_LT(r.wall_seconds, 1.5);
  EXPECT_TRUE(StopsRunningSoon(std::stoi(Stdout())));
}

TEST_F(RunnerTest, OutputFloodIsCappedKeepingHeadTailAndMarker) {
  const uint64_t flood = 200'000'000;
  ratchet::RunRequest request =
      Shell("echo HEAD; head -c " + std::to_string(flood) + " /dev/zero; echo; echo TAIL");
  request.log_cap_bytes = 1 << 20;
  ratchet::RunResult r = runner_.Run(request);
  ASSERT_TRUE(r.Succeeded()) << r.Describe();
  const uint64_t total = 5 + flood + 1 + 5;
  EXPECT_EQ(r.stdout_bytes, total);
  std::string log = Stdout();
  std::string marker =
      "[ratchet: " + std::to_string(total - request.log_cap_bytes) + " bytes elided]\n";
  EXPECT_LE(log.size(), request.log_cap_bytes + marker.size() + 1);
  EXPECT_EQ(log.rfind("HEAD\n", 0), 0u);
  EXPECT_EQ(log.substr(log.size() - 6), "\nTAIL\n");
  EXPECT_NE(log.find(marker), std::string::npos);
}

TEST_F(RunnerTest, StdinIsDevNull) {
  ratchet::RunRequest request = Shell("readlink /proc/$$/fd/0; cat; echo done");
  request.timeout_seconds = 5;
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_TRUE(r.Succeeded()) << r.Describe();
  EXPECT_EQ(Stdout(), "/dev/null\ndone\n");
}

// The child borrows the controller's memory until exec (spawn.h), so the
// controller's signal state must neither leak into the child nor be changed
// by it: the controller ignores SIGINT, handles SIGUSR1 and blocks SIGTERM.
int g_usr1_count = 0;
void CountUsr1(int) { ++g_usr1_count; }

TEST_F(RunnerTest, ChildStartsWithDefaultSignalsAndTheControllerKeepsItsOwn) {
  struct sigaction ignore = {}, count = {}, old_int = {}, old_usr1 = {};
  ignore.sa_handler = SIG_IGN;
  count.sa_handler = CountUsr1;
  ASSERT_EQ(::sigaction(SIGINT, &ignore, &old_int), 0);
  ASSERT_EQ(::sigaction(SIGUSR1, &count, &old_usr1), 0);
  sigset_t term, before, after;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &before), 0);
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);

  // cat is exec'd directly, so /proc/self is the child as it was started.
  ratchet::RunRequest request = Shell("");
  request.argv = {"/bin/cat", "/proc/self/status"};
  ratchet::RunResult r = runner_.Run(request);

  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  EXPECT_EQ(sigismember(&after, SIGTERM), 1);
  EXPECT_EQ(sigismember(&after, SIGINT), 0);
  struct sigaction now_int = {}, now_usr1 = {};
  ::sigaction(SIGINT, nullptr, &now_int);
  ::sigaction(SIGUSR1, nullptr, &now_usr1);
  EXPECT_EQ(now_int.sa_handler, SIG_IGN);
  EXPECT_EQ(now_usr1.sa_handler, &CountUsr1);
  ::raise(SIGUSR1);
  EXPECT_EQ(g_usr1_count, 1);
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ::pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);

  ASSERT_TRUE(r.Succeeded()) << r.Describe();
  std::string status = Stdout();
  EXPECT_NE(status.find("SigBlk:\t0000000000000000\n"), std::string::npos) << status;
  EXPECT_NE(status.find("SigIgn:\t0000000000000000\n"), std::string::npos) << status;
}

TEST_F(RunnerTest, ManyChildrenInARowLeaveNoDescriptorsOrZombiesBehind) {
  auto count_fds = [] {
    int n = 0;
    for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::directory_iterator(); ++it) ++n;
    return n;
  };
  const int fds_before = count_fds();
  for (int i = 0; i < 50; ++i) {
    ratchet::RunRequest request = Shell("");
    request.argv = {i % 2 ? "/bin/true" : "/nonexistent/ratchet-prog"};
    ratchet::RunResult r = runner_.Run(request);
    ASSERT_EQ(r.outcome, i % 2 ? ratchet::RunResult::Outcome::kExited
                               : ratchet::RunResult::Outcome::kSpawnFailed)
        << r.Describe();
  }
  EXPECT_EQ(count_fds(), fds_before);
  siginfo_t info = {};
  EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1);  // ECHILD: all reaped.
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(RunnerTest, MissingProgramIsASpawnFailureNamingIt) {
  ratchet::RunRequest request = Shell("");
  request.argv = {"/nonexistent/ratchet-prog"};
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSpawnFailed);
  EXPECT_NE(r.error.find("/nonexistent/ratchet-prog"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
  EXPECT_NE(r.Describe().find("failed to start"), std::string::npos);

  request.argv = {"ratchet-no-such-program-in-path"};
  r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSpawnFailed);
  EXPECT_NE(r.error.find("ratchet-no-such-program-in-path"), std::string::npos) << r.error;
}

TEST_F(RunnerTest, NonExecutableFileIsASpawnFailureWithPermissionDenied) {
  fs::path script = dir_ / "not-executable";
  std::ofstream(script) << "#!/bin/sh\n";
  ratchet::RunRequest request = Shell("");
  request.argv = {script.string()};
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSpawnFailed);
  EXPECT_NE(r.error.find("Permission denied"), std::string::npos) << r.error;
}

TEST_F(RunnerTest, MissingWorkingDirectoryIsASpawnFailure) {
  ratchet::RunRequest request = Shell("true");
  request.cwd = dir_ / "missing";
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSpawnFailed);
  EXPECT_NE(r.error.find("missing"), std::string::npos) << r.error;
}

TEST_F(RunnerTest, MemoryLimitMakesABigAllocationFailButNotASmallOne) {
  ratchet::RunRequest request = Shell("");
  request.argv = {SelfExe()};
  request.memory_limit_bytes = 256ull << 20;
  request.extra_env["RATCHET_RUNNER_TEST_ALLOC_MB"] = "512";
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_EQ(Stdout(), "alloc failed\n");

  request.extra_env["RATCHET_RUNNER_TEST_ALLOC_MB"] = "16";
  r = runner_.Run(request);
  EXPECT_TRUE(r.Succeeded()) << r.Describe();
  EXPECT_EQ(Stdout(), "allocated\n");
}

TEST_F(RunnerTest, PeakRssOfAChildTouchingMemoryIsRecorded) {
  ratchet::RunRequest request = Shell("");
  request.argv = {SelfExe()};
  request.extra_env["RATCHET_RUNNER_TEST_ALLOC_MB"] = "64";
  ratchet::RunResult big = runner_.Run(request);
  ASSERT_TRUE(big.Succeeded()) << big.Describe();
  EXPECT_GT(big.peak_rss_kb, 64 * 1024);
  ratchet::RunResult small = runner_.Run(Shell("true"));
  EXPECT_GT(small.peak_rss_kb, 0);
  EXPECT_LT(small.peak_rss_kb, 32 * 1024);
}

// What a sandboxed trainer looks like to wait4: bubblewrap exits without
// reaping the process that used the memory, so its ru_maxrss is its own.
TEST_F(RunnerTest, PeakRssOfAnUnreapedGrandchildIsSampledFromTheChildsCgroup) {
  ratchet::ProcessLimit limit(64);
  if (!limit.available()) GTEST_SKIP() << limit.unavailable_reason();
  // The subshell exits at once, so the allocating process is orphaned: no
  // process of the tree ever waits for it.
  ratchet::RunRequest request = Shell("( \"$0\" & ); sleep 2");
  request.argv.push_back(SelfExe());
  request.extra_env["RATCHET_RUNNER_TEST_ALLOC_MB"] = "128";
  request.extra_env["RATCHET_RUNNER_TEST_HOLD_MS"] = "1500";
  ratchet::RunResult unsampled = runner_.Run(request);
  ASSERT_TRUE(unsampled.Succeeded()) << unsampled.Describe();
  EXPECT_LT(unsampled.peak_rss_kb, 64 * 1024) << "wait4 saw the grandchild after all";

  request.cgroup_procs = limit.procs_file();
  ratchet::RunResult sampled = runner_.Run(request);
  ASSERT_TRUE(sampled.Succeeded()) << sampled.Describe();
  EXPECT_GT(sampled.peak_rss_kb, 128 * 1024);
}

TEST_F(RunnerTest, ShouldAbortKillsTheGroup) {
  int calls = 0;
  ratchet::RunRequest request = Shell("echo running; sleep 60");
  request.should_abort = [&calls] { return ++calls >= 3; };
  ratchet::RunResult r = runner_.Run(request);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kAborted);
  EXPECT_EQ(calls, 3);
  EXPECT_LT(r.wall_seconds, 2.0);
  EXPECT_EQ(r.Describe().rfind("aborted after", 0), 0u) << r.Describe();
  EXPECT_EQ(Stdout(), "running\n");
}

TEST_F(RunnerTest, ExtraEnvironmentAndWorkingDirectoryAreHonoured) {
  ratchet::RunRequest request = Shell("echo \"$RATCHET_TEST_VAR\"; echo \"$HOME\"; pwd -P");
  request.extra_env = {{"RATCHET_TEST_VAR", "hello"}, {"HOME", "/somewhere/else"}};
  request.cwd = dir_;
  ratchet::RunResult r = runner_.Run(request);
  ASSERT_TRUE(r.Succeeded());
  EXPECT_EQ(Stdout(), "hello\n/somewhere/else\n" + fs::canonical(dir_).string() + "\n");
}

TEST_F(RunnerTest, ChildLeadsItsOwnProcessGroupReportedToOnStart) {
  pid_t reported = 0;
  ratchet::RunRequest request = Shell("echo $$; cut -d' ' -f5 /proc/$$/stat");
  request.on_start = [&reported](pid_t pgid) { reported = pgid; };
  ratchet::RunResult r = runner_.Run(request);
  ASSERT_TRUE(r.Succeeded());
  EXPECT_NE(reported, ::getpgrp());
  EXPECT_EQ(Stdout(), std::to_string(reported) + "\n" + std::to_string(reported) + "\n");
}

TEST_F(RunnerTest, ChildDiesWhenTheControllerIsKilled) {
  // A stand-in controller runs the child, then is SIGKILLed mid-run.
  pid_t controller = ::fork();
  ASSERT_GE(controller, 0);
  if (controller == 0) {
    ratchet::RunRequest request =
        Shell("echo $$ > child.pid.tmp; mv child.pid.tmp child.pid; exec sleep 60");
    request.cwd = dir_;
    runner_.Run(request);
    ::_exit(0);
  }
  fs::path pid_file = dir_ / "child.pid";
  for (int i = 0; i < 500 && !fs::exists(pid_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(pid_file));
  pid_t child = std::stoi(Slurp(pid_file));
  ASSERT_TRUE(IsRunning(child));
  ::kill(controller, SIGKILL);
  ::waitpid(controller, nullptr, 0);
  EXPECT_TRUE(StopsRunningSoon(child));
}

TEST_F(RunnerTest, OnStartThatThrowsKillsTheChildAndPropagates) {
  ratchet::RunRequest request = Shell("sleep 60");
  request.on_start = [](pid_t) { throw std::runtime_error("store is down"); };
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(runner_.Run(request), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(RunnerTest, MissingLogFolderThrows) {
  ratchet::RunRequest request = Shell("true");
  request.stdout_path = dir_ / "no" / "such" / "stdout.log";
  EXPECT_THROW(runner_.Run(request), std::runtime_error);
}

TEST(KillProcessGroupTest, KillsEveryMemberOfALeftoverGroup) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setpgid(0, 0);
    ::pause();
    ::_exit(0);
  }
  ::setpgid(child, child);
  ratchet::KillProcessGroup(child);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  ratchet::KillProcessGroup(child);  // Gone now: ESRCH is ignored.
  ratchet::KillProcessGroup(0);      // Would be our own group: ignored.
  ratchet::KillProcessGroup(-1);     // Would be every process: ignored.
}

// A cap of 10 keeps 5 head bytes and a 5-byte tail; chunking must not matter.
TEST(LogCaptureTest, KeepsHeadAndTailAroundAnElidedMarkerWhateverTheChunking) {
  const std::string text = "0123456789abcdefghij";
  fs::path path = fs::temp_directory_path() / ("log_capture_test." + std::to_string(::getpid()));
  for (size_t chunk : {1, 3, 7, 20}) {
    {
      ratchet::LogCapture log(path, 10);
      for (size_t i = 0; i < text.size(); i += chunk)
        log.Append(std::string_view(text).substr(i, chunk));
      log.Finish();
      EXPECT_EQ(log.total_bytes(), 20u);
    }
    EXPECT_EQ(Slurp(path), "01234\n[ratchet: 10 bytes elided]\nfghij") << "chunk " << chunk;
  }
  fs::remove(path);
}

TEST(LogCaptureTest, OutputWithinTheCapIsWrittenUnchanged) {
  fs::path path = fs::temp_directory_path() / ("log_capture_test." + std::to_string(::getpid()));
  {
    ratchet::LogCapture log(path, 10);
    log.Append("0123456");
    log.Append("789");
  }  // The destructor finishes.
  EXPECT_EQ(Slurp(path), "0123456789");
  fs::remove(path);
}

TEST(LogCaptureTest, EmptyStreamLeavesNoFileAndNoStaleOutput) {
  fs::path path = fs::temp_directory_path() / ("log_capture_test." + std::to_string(::getpid()));
  std::ofstream(path) << "output of an earlier run\n";
  {
    ratchet::LogCapture log(path, 10);
    log.Append("");
  }
  EXPECT_FALSE(fs::exists(path)) << "an empty stream must not leave the old file behind";
  EXPECT_EQ(ratchet::ReadLogTail(path, 100), "");
}

TEST_F(RunnerTest, SilentChildLeavesNoLogFilesAndATalkativeOneBoth) {
  ratchet::RunResult silent = runner_.Run(Shell("true"));
  ASSERT_TRUE(silent.Succeeded()) << silent.Describe();
  EXPECT_FALSE(fs::exists(dir_ / "stdout.log"));
  EXPECT_FALSE(fs::exists(dir_ / "stderr.log"));
  ratchet::RunResult talkative = runner_.Run(Shell("echo out; echo err >&2"));
  ASSERT_TRUE(talkative.Succeeded()) << talkative.Describe();
  EXPECT_EQ(Stdout(), "out\n");
  EXPECT_EQ(Slurp(dir_ / "stderr.log"), "err\n");
}

TEST(LogCaptureTest, MarkerStartsOnItsOwnLine) {
  fs::path path = fs::temp_directory_path() / ("log_capture_test." + std::to_string(::getpid()));
  {
    ratchet::LogCapture log(path, 6);
    log.Append("a\nbcdefg\nh\n");
  }
  EXPECT_EQ(Slurp(path), "a\nb\n[ratchet: 5 bytes elided]\n\nh\n");
  fs::remove(path);
}

TEST(ReadLogTailTest, ReturnsWholeLinesFromTheEnd) {
  fs::path path = fs::temp_directory_path() / ("read_log_tail_test." + std::to_string(::getpid()));
  std::ofstream(path) << "first line\nsecond line\nthird\n";
  EXPECT_EQ(ratchet::ReadLogTail(path, 15), "third\n");
  EXPECT_EQ(ratchet::ReadLogTail(path, 1000), "first line\nsecond line\nthird\n");
  fs::remove(path);
  EXPECT_EQ(ratchet::ReadLogTail(path, 100), "");
}

TEST(DecodeWaitStatusTest, MapsExitAndSignalStatuses) {
  ratchet::RunResult r;
  ratchet::DecodeWaitStatus(W_EXITCODE(7, 0), r);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kExited);
  EXPECT_EQ(r.exit_code, 7);
  ratchet::DecodeWaitStatus(W_EXITCODE(0, SIGABRT), r);
  EXPECT_EQ(r.outcome, ratchet::RunResult::Outcome::kSignaled);
  EXPECT_EQ(r.term_signal, SIGABRT);
  EXPECT_EQ(r.exit_code, -1);
}

}  // namespace

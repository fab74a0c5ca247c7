#include "ratchet/runner/runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/log_capture.h"
#include "ratchet/runner/peak_rss.h"
#include "ratchet/runner/spawn.h"

namespace ratchet {

bool RunResult::Succeeded() const { return outcome == Outcome::kExited && exit_code == 0; }

std::vector<RunResult> ProcessRunner::RunSteps(const std::vector<RunRequest>& steps,
                                               const std::function<void(size_t)>& before_step) {
  std::vector<RunResult> results;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i > 0 && before_step) before_step(i);
    results.push_back(Run(steps[i]));
    if (!results.back().Succeeded()) break;
  }
  return results;
}

namespace {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

}  // namespace

std::string RunResult::Describe() const {
  switch (outcome) {
    case Outcome::kExited:
      return "exit " + std::to_string(exit_code);
    case Outcome::kSignaled:
      return "killed by " + SignalName(term_signal);
    case Outcome::kTimedOut:
      return "timed out after " + Seconds(wall_seconds);
    case Outcome::kAborted:
      return "aborted after " + Seconds(wall_seconds);
    case Outcome::kSpawnFailed:
      return "failed to start: " + error;
  }
  return "unknown outcome";
}

void RestoreChildSignal(RunResult& result) {
  if (result.outcome != RunResult::Outcome::kExited) return;
  if (result.exit_code <= 128 || result.exit_code > 128 + 64) return;
  result.outcome = RunResult::Outcome::kSignaled;
  result.term_signal = result.exit_code - 128;
  result.exit_code = -1;
}

void DecodeWaitStatus(int wait_status, RunResult& result) {
  if (WIFEXITED(wait_status)) {
    result.outcome = RunResult::Outcome::kExited;
    result.exit_code = WEXITSTATUS(wait_status);
    result.term_signal = 0;
  } else if (WIFSIGNALED(wait_status)) {
    result.outcome = RunResult::Outcome::kSignaled;
    result.exit_code = -1;
    result.term_signal = WTERMSIG(wait_status);
  }
}

void KillProcessGroup(pid_t pgid) {
  if (pgid <= 1) return;
  ::kill(-pgid, SIGKILL);  // ESRCH (gone) and EPERM (not ours) are both fine here.
}

std::string ReadLogTail(const std::filesystem::path& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return "";
    throw Error(ErrnoMessage(path, "cannot open log"));
  }
  off_t size = ::lseek(fd, 0, SEEK_END);
  off_t start = size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
  std::string tail(static_cast<size_t>(size - start), '\0');
  size_t got = 0;
  while (got < tail.size()) {
    ssize_t n = ::pread(fd, tail.data() + got, tail.size() - got, start + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw Error(ErrnoMessage(path, "cannot read log"));
    }
    if (n == 0) break;  // Truncated under us.
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  tail.resize(got);
  if (start > 0) {  // Drop the partial first line, unless that is all there is.
    size_t nl = tail.find('\n');
    if (nl != std::string::npos && nl + 1 < tail.size()) tail.erase(0, nl + 1);
  }
  return tail;
}

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kAbortPollSeconds = 0.1;
// Without a pidfd (kernel < 5.3) the child's exit is noticed by polling.
constexpr double kExitPollSeconds = 0.02;
// Between samples of the tree's peak memory (peak_rss.h): each reads a few
// /proc files per process; VmHWM keeps the peak between samples of a
// process that lives on.
constexpr double kPeakRssSampleSeconds = 0.25;
// After the child exits and its group is killed, how long to wait for the
// pipes to close. Only a descendant that left the group (setsid) holds them.
constexpr double kDrainSeconds = 2.0;

double Now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A pipe whose ends are close-on-exec (so concurrent forks elsewhere in the
// controller do not inherit them) and numbered >= 3 (so the child's dup2 onto
// 0..2 can never clobber one of its own pipe ends).
void MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrnoMessage("pipe", "cannot create"));
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  for (Fd* end : {&read_end, &write_end}) {
    if (end->get() < 3) {
      end->Reset(::fcntl(end->get(), F_DUPFD_CLOEXEC, 3));
      if (end->get() < 0) throw Error(ErrnoMessage("pipe", "cannot move above fd 2"));
    }
  }
}

void SignalGroup(pid_t pgid, int sig) { ::kill(-pgid, sig); }  // ESRCH: all gone, fine.

// wait4 with EINTR retried. Returns false if the child could not be waited for
// (ECHILD: the controller set SIGCHLD to SIG_IGN).
bool Reap(pid_t pid, int& status, rusage& usage) {
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// True once the child has exited; it stays a zombie (WNOWAIT) so its pid and
// process group cannot be reused while we still signal the group.
bool HasExited(pid_t pid) {
  siginfo_t info = {};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
    if (errno != EINTR) return true;  // ECHILD: nothing left to wait for.
  }
  return info.si_pid != 0;
}

// Reads one chunk from a pipe into its log. Returns false at end of stream.
bool Pump(int fd, LogCapture& log, char* buffer, size_t size) {
  while (true) {
    ssize_t n = ::read(fd, buffer, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EOF, or an error we cannot do anything about.
    log.Append(std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }
}

// Why the runner killed the group, if it did.
enum class Kill { kNone, kTimeout, kAbort };

// The poll loop: copies the child's output into the logs, enforces the
// deadline and should_abort, and returns once the child has exited (still
// unreaped), its group has been killed and its pipes are drained.
Kill Supervise(const RunRequest& request, pid_t pid, double start, const Fd& pidfd, Fd& out_r,
               Fd& err_r, LogCapture& out_log, LogCapture& err_log, int64_t& sampled_peak_kb) {
  const pid_t pgid = pid;
  Kill reason = Kill::kNone;
  const double deadline = request.timeout_seconds > 0 ? start + request.timeout_seconds : kInfinity;
  double kill_at = kInfinity;      // When SIGKILL follows the SIGTERM.
  double drain_until = kInfinity;  // Set once the child has exited.
  double next_abort_check = start + kAbortPollSeconds;
  const bool sampling = !request.cgroup_procs.empty();
  double next_sample = start;
  bool exited = false;
  char buffer[64 * 1024];

  while (true) {
    const double now = Now();
    if (!exited && pidfd.get() < 0 && HasExited(pid)) exited = true;
    if (exited && drain_until == kInfinity) {
      SignalGroup(pgid, SIGKILL);  // Leftover grandchildren; the leader is a zombie still.
      drain_until = now + kDrainSeconds;
    }
    if (exited && ((out_r.get() < 0 && err_r.get() < 0) || now >= drain_until)) break;

    if (!exited && reason == Kill::kNone) {
      if (now >= deadline) {
        reason = Kill::kTimeout;
      } else if (request.should_abort && now >= next_abort_check) {
        next_abort_check = now + kAbortPollSeconds;
        if (request.should_abort()) reason = Kill::kAbort;
      }
      if (reason != Kill::kNone) {
        SignalGroup(pgid, SIGTERM);
        kill_at = now + request.kill_grace_seconds;
      }
    }
    if (!exited && now >= kill_at) {
      SignalGroup(pgid, SIGKILL);
      kill_at = kInfinity;
    }
    if (!exited && sampling && now >= next_sample) {
      sampled_peak_kb = std::max(sampled_peak_kb, LargestPeakRssKb(request.cgroup_procs));
      next_sample = now + kPeakRssSampleSeconds;
    }

    double wait = kInfinity;
    if (!exited) {
      if (reason == Kill::kNone) {
        wait = std::min(wait, deadline - now);
        if (request.should_abort) wait = std::min(wait, next_abort_check - now);
      }
      wait = std::min(wait, kill_at - now);
      if (sampling) wait = std::min(wait, next_sample - now);
      if (pidfd.get() < 0) wait = std::min(wait, kExitPollSeconds);
    } else {
      wait = drain_until - now;
    }
    int timeout_ms =
        wait == kInfinity ? -1 : static_cast<int>(std::ceil(std::max(0.0, wait) * 1000));

    pollfd fds[3];
    int count = 0;
    int out_index = -1, err_index = -1, pid_index = -1;
    if (out_r.get() >= 0) {
      out_index = count;
      fds[count++] = {out_r.get(), POLLIN, 0};
    }
    if (err_r.get() >= 0) {
      err_index = count;
      fds[count++] = {err_r.get(), POLLIN, 0};
    }
    if (!exited && pidfd.get() >= 0) {
      pid_index = count;
      fds[count++] = {pidfd.get(), POLLIN, 0};
    }
    int ready = ::poll(fds, static_cast<nfds_t>(count), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrnoMessage(request.argv[0], "poll failed while running"));
    }
    if (out_index >= 0 && fds[out_index].revents &&
        !Pump(out_r.get(), out_log, buffer, sizeof buffer)) {
      out_r.Reset();
    }
    if (err_index >= 0 && fds[err_index].revents &&
        !Pump(err_r.get(), err_log, buffer, sizeof buffer)) {
      err_r.Reset();
    }
    if (pid_index >= 0 && fds[pid_index].revents) exited = true;
  }
  return reason;
}

}  // namespace

RunResult PosixProcessRunner::Run(const RunRequest& request) {
  if (request.argv.empty() || request.argv[0].empty()) {
    throw Error("runner: empty command (argv[0] missing)");
  }
  RunResult result;
  LogCapture out_log(request.stdout_path, request.log_cap_bytes);
  LogCapture err_log(request.stderr_path, request.log_cap_bytes);

  Fd out_r, out_w, err_r, err_w;
  MakePipe(out_r, out_w);
  MakePipe(err_r, err_w);

  const double start = Now();
  const Spawned child = Spawn(request, out_w.get(), err_w.get());
  const pid_t pid = child.pid;
  const pid_t pgid = pid;  // The child made its own group before exec.
  out_w.Reset();
  err_w.Reset();

  int status = 0;
  rusage usage = {};
  if (child.failure.stage != SpawnFailure::Stage::kNone) {
    Reap(pid, status, usage);
    result.outcome = RunResult::Outcome::kSpawnFailed;
    result.error = DescribeSpawnFailure(child.failure, request);
    result.wall_seconds = Now() - start;
    return result;
  }
  // glibc 2.36's <sys/pidfd.h> lacks extern "C", hence the raw syscall.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (request.on_start) {
    try {
      request.on_start(pgid);
    } catch (...) {
      SignalGroup(pgid, SIGKILL);
      Reap(pid, status, usage);
      throw;
    }
  }

  Kill reason;
  int64_t sampled_peak_kb = 0;
  try {
    reason = Supervise(request, pid, start, pidfd, out_r, err_r, out_log, err_log, sampled_peak_kb);
  } catch (...) {  // poll failed or should_abort threw: leave no child behind.
    SignalGroup(pgid, SIGKILL);
    Reap(pid, status, usage);
    throw;
  }

  if (!Reap(pid, status, usage)) {
    result.error = "cannot wait for " + request.argv[0] + ": " + std::strerror(errno);
  }
  result.wall_seconds = Now() - start;
  DecodeWaitStatus(status, result);
  if (request.signal_in_exit_code) RestoreChildSignal(result);
  if (reason == Kill::kTimeout) result.outcome = RunResult::Outcome::kTimedOut;
  if (reason == Kill::kAbort) result.outcome = RunResult::Outcome::kAborted;
  result.peak_rss_kb = std::max<int64_t>(usage.ru_maxrss, sampled_peak_kb);

  out_log.Finish();
  err_log.Finish();
  result.stdout_bytes = out_log.total_bytes();
  result.stderr_bytes = err_log.total_bytes();
  for (const LogCapture* log : {&out_log, &err_log}) {
    if (result.error.empty() && !log->write_error().empty()) result.error = log->write_error();
  }
  return result;
}

}  // namespace ratchet

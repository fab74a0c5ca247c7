#include "ratchet/runner/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/fs.h"

extern char** environ;

namespace ratchet {

namespace {

// Plenty for the child's few system calls; it lives in Spawn's frame, which
// is not used while the calling thread sleeps.
constexpr size_t kChildStackBytes = 64 * 1024;

// Everything the child needs, built before the clone: the child must not
// allocate (the heap is the controller's, and its lock may be held).
struct ChildPlan {
  std::vector<std::string> exec_paths;  // Candidates tried in order (PATH lookup).
  std::vector<char*> argv;
  std::vector<std::string> env_storage;
  std::vector<char*> envp;
  const char* cwd = nullptr;
  uint64_t memory_limit_bytes = 0;
  const char* cgroup_procs = nullptr;
  pid_t parent_pid = 0;
  int stdout_fd = -1, stderr_fd = -1;
  // Written by the child, read by the parent once the clone returns
  // (CLONE_VFORK orders the two).
  SpawnFailure failure;
};

void MakePlan(const RunRequest& request, ChildPlan& plan) {
  const std::string& program = request.argv[0];
  auto path_override = request.extra_env.find("PATH");
  if (program.find('/') != std::string::npos) {
    plan.exec_paths.push_back(program);
  } else {
    const char* env_path = std::getenv("PATH");
    std::string search = path_override != request.extra_env.end() ? path_override->second
                         : env_path                               ? env_path
                                                                  : "/bin:/usr/bin";
    size_t begin = 0;
    while (true) {
      size_t end = search.find(':', begin);
      std::string dir = search.substr(begin, end == std::string::npos ? end : end - begin);
      plan.exec_paths.push_back(dir.empty() ? program : dir + "/" + program);
      if (end == std::string::npos) break;
      begin = end + 1;
    }
  }
  for (const std::string& arg : request.argv) plan.argv.push_back(const_cast<char*>(arg.c_str()));
  plan.argv.push_back(nullptr);

  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view key = entry.substr(0, entry.find('='));
    if (!request.extra_env.count(std::string(key))) plan.env_storage.emplace_back(entry);
  }
  for (const auto& [key, value] : request.extra_env) plan.env_storage.push_back(key + "=" + value);
  for (std::string& entry : plan.env_storage) plan.envp.push_back(entry.data());
  plan.envp.push_back(nullptr);

  if (!request.cwd.empty()) plan.cwd = request.cwd.c_str();
  plan.memory_limit_bytes = request.memory_limit_bytes;
  if (!request.cgroup_procs.empty()) plan.cgroup_procs = request.cgroup_procs.c_str();
  plan.parent_pid = ::getpid();
}

[[noreturn]] void Fail(ChildPlan& plan, SpawnFailure::Stage stage, int error) {
  plan.failure.stage = stage;
  plan.failure.error = error;
  ::_exit(127);
}

// Runs in the child, in the controller's memory. Raw system calls only.
int ChildMain(void* arg) {
  ChildPlan& plan = *static_cast<ChildPlan*>(arg);
  ::setpgid(0, 0);
  // Die with the controller; if it already died before this line, go now.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != plan.parent_pid) ::_exit(127);

  // The controller may handle or ignore signals (SIGINT for its Ctrl-C
  // logic, SIGPIPE); the child starts from the defaults. Handlers first,
  // then the mask: a signal must not reach a controller handler here.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  int null_fd = ::open("/dev/null", O_RDONLY);  // Not CLOEXEC: it may already be fd 0.
  if (null_fd < 0) Fail(plan, SpawnFailure::Stage::kStdin, errno);
  if (null_fd != 0) {
    if (::dup2(null_fd, 0) < 0) Fail(plan, SpawnFailure::Stage::kStdin, errno);
    ::close(null_fd);
  }
  if (::dup2(plan.stdout_fd, 1) < 0 || ::dup2(plan.stderr_fd, 2) < 0) {
    Fail(plan, SpawnFailure::Stage::kDup, errno);
  }
  if (plan.cwd && ::chdir(plan.cwd) != 0) Fail(plan, SpawnFailure::Stage::kChdir, errno);
  if (plan.cgroup_procs) {  // "0": the writing process itself
    const int fd = ::open(plan.cgroup_procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) Fail(plan, SpawnFailure::Stage::kCgroup, errno);
    ::close(fd);
  }
  if (plan.memory_limit_bytes > 0) {
    rlimit limit{plan.memory_limit_bytes, plan.memory_limit_bytes};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) Fail(plan, SpawnFailure::Stage::kRlimit, errno);
  }
  // Whatever the controller forgot to mark close-on-exec stays behind.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

  // Like execvp: try each PATH entry, prefer reporting EACCES over ENOENT.
  int error = ENOENT;
  bool saw_eacces = false;
  for (const std::string& path : plan.exec_paths) {
    ::execve(path.c_str(), plan.argv.data(), plan.envp.data());
    error = errno;
    if (error == EACCES) saw_eacces = true;
    if (error != ENOENT && error != ENOTDIR && error != EACCES) break;
  }
  if (saw_eacces && (error == ENOENT || error == ENOTDIR)) error = EACCES;
  Fail(plan, SpawnFailure::Stage::kExec, error);
}

// Blocks every signal for its lifetime (on this thread).
class BlockAllSignals {
 public:
  BlockAllSignals() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~BlockAllSignals() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;

 private:
  sigset_t saved_;
};

}  // namespace

Spawned Spawn(const RunRequest& request, int stdout_fd, int stderr_fd) {
  ChildPlan plan;
  MakePlan(request, plan);
  plan.stdout_fd = stdout_fd;
  plan.stderr_fd = stderr_fd;

  alignas(64) unsigned char stack[kChildStackBytes];
  pid_t pid;
  int clone_errno;
  {
    BlockAllSignals blocked;
    pid = ::clone(ChildMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
    clone_errno = errno;
  }
  if (pid < 0) {
    errno = clone_errno;
    throw Error(ErrnoMessage(request.argv[0], "cannot start (clone)"));
  }
  return Spawned{pid, plan.failure};
}

std::string DescribeSpawnFailure(const SpawnFailure& failure, const RunRequest& request) {
  std::string what;
  switch (failure.stage) {
    case SpawnFailure::Stage::kNone:
      return "";
    case SpawnFailure::Stage::kStdin:
      what = "cannot open /dev/null for " + request.argv[0];
      break;
    case SpawnFailure::Stage::kDup:
      what = "cannot redirect output of " + request.argv[0];
      break;
    case SpawnFailure::Stage::kChdir:
      what = "cannot chdir to " + request.cwd.string() + " for " + request.argv[0];
      break;
    case SpawnFailure::Stage::kRlimit:
      what = "cannot set memory limit for " + request.argv[0];
      break;
    case SpawnFailure::Stage::kCgroup:
      what = "cannot join the process-count cgroup " + request.cgroup_procs.string() + " for " +
             request.argv[0];
      break;
    case SpawnFailure::Stage::kExec:
      what = "cannot execute " + request.argv[0];
      break;
  }
  return what + ": " + std::strerror(failure.error);
}

}  // namespace ratchet

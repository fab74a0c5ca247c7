// Starting a child process without copying the controller.
//
// fork() copies the controller's page tables and write-protects every page,
// so the controller pays one page fault per page it touches afterwards; the
// cost grows with the controller's memory (1.1 ms for /bin/true from a small
// process, 2.8 ms with 100 MB resident). Spawn instead uses
// clone(CLONE_VM | CLONE_VFORK), as posix_spawn does: the child borrows the
// controller's memory on a stack of its own until execve, and the calling
// thread sleeps until then. posix_spawn itself cannot be used because it
// cannot set PR_SET_PDEATHSIG.
//
// Because the memory is shared, the child makes only raw system calls
// (setpgid, prctl, sigaction, open, write, dup2, chdir, setrlimit,
// close_range, execve): no allocation, no locks, nothing that touches the controller's
// state. Every signal is blocked from before the clone until the child has
// reset all handlers to their defaults, so no controller handler ever runs
// on the child's side.
#pragma once

#include <sys/types.h>

#include <string>

#include "ratchet/runner/runner.h"

namespace ratchet {

// Why a child could not start: the step that failed and its errno.
struct SpawnFailure {
  enum class Stage { kNone, kStdin, kDup, kChdir, kRlimit, kCgroup, kExec };
  Stage stage = Stage::kNone;
  int error = 0;
};

struct Spawned {
  // The child; also its process group id. Reap it even when failure.stage
  // != kNone (it has exited with status 127 then).
  pid_t pid = -1;
  SpawnFailure failure;
};

// Starts request.argv (PATH lookup like execvp; request.extra_env added to
// the environment) in a new process group, with stdin from /dev/null,
// stdout_fd and stderr_fd as its fds 1 and 2, cwd and RLIMIT_AS from the
// request, default signal handlers, an empty signal mask and
// PR_SET_PDEATHSIG=SIGKILL. When Spawn returns, the child has exec'd or has
// failed (failure says why). Throws ratchet::Error if clone() fails.
// REQUIRES: !request.argv.empty(); stdout_fd and stderr_fd are >= 3.
Spawned Spawn(const RunRequest& request, int stdout_fd, int stderr_fd);

// "cannot execute ./train: No such file or directory" and the like.
std::string DescribeSpawnFailure(const SpawnFailure& failure, const RunRequest& request);

}  // namespace ratchet

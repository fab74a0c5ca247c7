#include "ratchet/runner/captured_command.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/runner.h"
#include "ratchet/runner/spawn.h"

namespace ratchet {

namespace {

// A close-on-exec fd numbered >= 3 (Spawn's requirement), or -1.
int AboveStdio(int fd) {
  if (fd < 0 || fd >= 3) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

}  // namespace

CommandOutput RunCaptured(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrnoMessage(argv.at(0), "cannot create a pipe for"));
  const int read_end = AboveStdio(fds[0]);
  const int write_end = AboveStdio(fds[1]);
  if (read_end < 0 || write_end < 0) {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
    throw Error(ErrnoMessage(argv.at(0), "cannot move a pipe above fd 2 for"));
  }

  RunRequest request;
  request.argv = argv;
  Spawned child;
  try {
    child = Spawn(request, write_end, write_end);
  } catch (...) {
    ::close(read_end);
    ::close(write_end);
    throw;
  }
  ::close(write_end);

  CommandOutput result;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(read_end, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  ::close(read_end);

  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (child.failure.stage != SpawnFailure::Stage::kNone) {
    result.output = DescribeSpawnFailure(child.failure, request);
    return result;
  }
  result.started = true;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace ratchet

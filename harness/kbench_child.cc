#include "harness/kbench_child.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace ratchet::kbench {
namespace {

using Clock = std::chrono::steady_clock;

struct FrameHeader {
  uint32_t tag;
  uint32_t index;
  uint64_t bytes;
};

// The common child set-up: own group, die with the parent, stdin from
// /dev/null. Runs in the child between fork and its work.
void PrepareChild() {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    close(null_fd);
  }
}

// Reads from fd until the child exits (then drains what is left) or the
// deadline passes (then kills the group). Reaps the child.
ChildOutcome Collect(pid_t pid, int fd, double timeout_seconds, size_t max_output) {
  ChildOutcome outcome;
  const Clock::time_point start = Clock::now();
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  bool open_fd = true;
  bool exited = false;
  int status = 0;
  char buffer[1 << 16];
  auto drain = [&] {
    while (open_fd) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n > 0) {
        const size_t room = max_output - std::min(max_output, outcome.output.size());
        outcome.output.append(buffer, std::min(room, static_cast<size_t>(n)));
      } else if (n == 0) {
        open_fd = false;
      } else if (errno != EINTR) {
        break;  // EAGAIN: nothing more for now.
      }
    }
  };
  while (true) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (elapsed >= timeout_seconds) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      drain();
      outcome.kind = ChildOutcome::Kind::kTimedOut;
      break;
    }
    if (open_fd) {
      pollfd p{fd, POLLIN, 0};
      const int wait_ms = static_cast<int>(std::min(100.0, (timeout_seconds - elapsed) * 1000) + 1);
      poll(&p, 1, wait_ms);
      drain();
    } else {
      usleep(2000);
    }
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
      drain();
      break;
    }
  }
  close(fd);
  // Whatever the child left running in its group goes with it.
  kill(-pid, SIGKILL);
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (exited) {
    if (WIFEXITED(status)) {
      outcome.kind = ChildOutcome::Kind::kExited;
      outcome.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      outcome.kind = ChildOutcome::Kind::kSignaled;
      outcome.signal = WTERMSIG(status);
    }
  }
  return outcome;
}

pid_t ForkWithPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(std::string("ratchet-kbench: pipe: ") + std::strerror(errno));
  }
  std::fflush(nullptr);  // So the child does not repeat buffered output.
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw Error(std::string("ratchet-kbench: fork: ") + std::strerror(errno));
  }
  return pid;
}

}  // namespace

std::string ChildOutcome::Describe() const {
  char text[96];
  switch (kind) {
    case Kind::kExited:
      std::snprintf(text, sizeof text, "exit %d", exit_code);
      break;
    case Kind::kSignaled: {
      const char* name = sigabbrev_np(signal);
      std::snprintf(text, sizeof text, "killed by SIG%s", name ? name : "?");
      break;
    }
    case Kind::kTimedOut:
      std::snprintf(text, sizeof text, "timed out after %.1f s", seconds);
      break;
  }
  return text;
}

std::string ChildOutcome::DescribeFailure() const {
  switch (kind) {
    case Kind::kTimedOut:
      return "hung: " + Describe();
    case Kind::kSignaled:
      return "crashed: " + Describe();
    case Kind::kExited:
      break;
  }
  return "exited early: " + Describe();
}

ChildOutcome RunInChild(const std::function<int(int write_fd)>& body, double timeout_seconds) {
  int fds[2];
  const pid_t pid = ForkWithPipe(fds);
  if (pid == 0) {
    close(fds[0]);
    PrepareChild();
    dup2(STDERR_FILENO, STDOUT_FILENO);  // Keep the bench's stdout for its JSON line.
    int code = 4;
    try {
      code = body(fds[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ratchet-kbench child: %s\n", e.what());
    }
    std::fflush(nullptr);
    _exit(code);
  }
  close(fds[1]);
  setpgid(pid, pid);  // Also here, so a kill at once still reaches the group.
  return Collect(pid, fds[0], timeout_seconds, static_cast<size_t>(-1));
}

ChildOutcome RunCommand(const std::vector<std::string>& argv, double timeout_seconds,
                        size_t max_output) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  const pid_t pid = ForkWithPipe(fds);
  if (pid == 0) {
    PrepareChild();
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execvp(args[0], args.data());
    std::fprintf(stderr, "%s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  setpgid(pid, pid);
  return Collect(pid, fds[0], timeout_seconds, max_output);
}

bool WriteRecord(int fd, uint32_t tag, uint32_t index, const void* data, uint64_t bytes) {
  const FrameHeader header{tag, index, bytes};
  auto write_all = [fd](const char* p, uint64_t n) {
    while (n > 0) {
      const ssize_t w = write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= static_cast<uint64_t>(w);
    }
    return true;
  };
  return write_all(reinterpret_cast<const char*>(&header), sizeof header) &&
         write_all(static_cast<const char*>(data), bytes);
}

std::vector<Record> ParseRecords(std::string_view bytes) {
  std::vector<Record> records;
  size_t pos = 0;
  while (bytes.size() - pos >= sizeof(FrameHeader)) {
    FrameHeader header;
    std::memcpy(&header, bytes.data() + pos, sizeof header);
    pos += sizeof header;
    if (bytes.size() - pos < header.bytes) break;
    records.push_back({header.tag, header.index, bytes.substr(pos, header.bytes)});
    pos += header.bytes;
  }
  return records;
}

void* LoadEntry(const std::filesystem::path& shared_object, const std::string& symbol,
                std::string* error) {
  void* handle = dlopen(shared_object.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    *error = std::string("cannot load the kernel: ") + dlerror();
    return nullptr;
  }
  void* entry = dlsym(handle, symbol.c_str());
  if (entry == nullptr) {
    *error = "the kernel does not define extern \"C\" " + symbol + " (see kbench_abi.h)";
  }
  return entry;
}

}  // namespace ratchet::kbench

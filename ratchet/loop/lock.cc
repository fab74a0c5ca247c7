#include "ratchet/loop/lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {

namespace {
constexpr int kStaleHolderRetries = 200;
constexpr useconds_t kStaleHolderRetryMicros = 10'000;  // 2 s in all
}  // namespace

WorkspaceLock::WorkspaceLock(const std::filesystem::path& ratchet_dir) {
  std::filesystem::path path = ratchet_dir / "lock";
  // O_CLOEXEC: children (trainers) must not inherit and outlive the lock.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(ErrnoMessage(path, "cannot open lock file"));
  // A controller killed while starting a child leaves that child holding a
  // copy of the lock until it reaches exec (or dies with its parent), a
  // moment on a busy machine: when the recorded holder is gone, wait for it.
  for (int attempt = 0; attempt < kStaleHolderRetries; ++attempt) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) break;
    char recorded[32] = {0};
    long holder = ::pread(fd_, recorded, sizeof(recorded) - 1, 0) > 0 ? std::atol(recorded) : 0;
    if (holder <= 0 || ::kill(static_cast<pid_t>(holder), 0) == 0 || errno != ESRCH) break;
    ::usleep(kStaleHolderRetryMicros);
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    char holder[64] = {0};
    ssize_t n = ::pread(fd_, holder, sizeof(holder) - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (saved == EWOULDBLOCK) {
      std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      throw Error(ratchet_dir.parent_path().string() +
                  ": workspace is in use by another ratchet controller (pid " + pid + ")");
    }
    errno = saved;
    throw Error(ErrnoMessage(path, "cannot lock"));
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    throw Error(ErrnoMessage(path, "cannot write lock file"));
  }
}

WorkspaceLock::~WorkspaceLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace ratchet

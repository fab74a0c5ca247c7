// One controller per workspace. The lock is an flock(2) on
// <workspace>/.ratchet/lock: the kernel drops it when the holder dies, even
// by SIGKILL, so a resumed run never finds a stale lock.
#pragma once

#include <filesystem>
#include <string>

namespace ratchet {

class WorkspaceLock {
 public:
  // Takes the lock or throws Error naming the workspace and the pid holding it.
  explicit WorkspaceLock(const std::filesystem::path& ratchet_dir);
  ~WorkspaceLock();
  WorkspaceLock(const WorkspaceLock&) = delete;
  WorkspaceLock& operator=(const WorkspaceLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ratchet

// A bound on how many processes and threads one child may have at once: a
// pids cgroup of its own (cgroup v2, or v1's pids hierarchy), which the child
// joins before it executes anything (RunRequest::cgroup_procs), so even its
// first fork counts. A fork past the bound fails with EAGAIN in the child;
// the controller goes on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ratchet {

class ProcessLimit {
 public:
  // Creates the cgroup with pids.max = max_pids. When this machine has no
  // writable pids cgroup, available() is false and unavailable_reason() says
  // why (the child then runs unbounded).
  explicit ProcessLimit(int64_t max_pids);
  // Kills what is left in the cgroup and removes it.
  ~ProcessLimit();
  ProcessLimit(const ProcessLimit&) = delete;
  ProcessLimit& operator=(const ProcessLimit&) = delete;

  bool available() const { return !procs_.empty(); }
  const std::string& unavailable_reason() const { return reason_; }
  // The cgroup.procs file the child writes itself into.
  const std::filesystem::path& procs_file() const { return procs_; }

 private:
  std::filesystem::path dir_, procs_;
  std::string reason_;
};

}  // namespace ratchet

#include "ratchet/runner/process_limit.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <mutex>

namespace ratchet {

namespace fs = std::filesystem;

namespace {

// Where pids cgroups can be made here: cgroup v2's root when it offers the
// pids controller, else v1's pids hierarchy; empty when neither.
fs::path PidsRoot() {
  std::error_code ec;
  const fs::path v2 = "/sys/fs/cgroup";
  std::ifstream controllers(v2 / "cgroup.controllers");
  std::string line;
  if (std::getline(controllers, line) && (" " + line + " ").find(" pids ") != std::string::npos) {
    std::ofstream(v2 / "cgroup.subtree_control") << "+pids";  // already on with systemd
    return v2;
  }
  const fs::path v1 = "/sys/fs/cgroup/pids";
  if (fs::exists(v1 / "cgroup.procs", ec)) return v1;
  return {};
}

// Empties and removes a cgroup folder; false while members remain.
bool RemoveCgroup(const fs::path& dir) {
  std::error_code ec;
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (fs::remove(dir, ec) || !fs::exists(dir, ec)) return true;
    std::ifstream procs(dir / "cgroup.procs");
    for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
    ::usleep(1000);
  }
  return false;
}

// Cgroups of controllers that were killed before they could remove them
// (ratchet-<pid>-<n> with <pid> gone): swept once per process.
void SweepStale(const fs::path& root) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ratchet-", 0) != 0) continue;
    const pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + 8));
    if (owner > 0 && ::kill(owner, 0) != 0 && errno == ESRCH) RemoveCgroup(entry.path());
  }
}

bool WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

ProcessLimit::ProcessLimit(int64_t max_pids) {
  static std::atomic<int> counter{0};
  const fs::path root = PidsRoot();
  if (root.empty()) {
    reason_ = "no pids cgroup on this machine (/sys/fs/cgroup): processes are not bounded";
    return;
  }
  static std::once_flag swept;
  std::call_once(swept, [&] { SweepStale(root); });
  dir_ = root / ("ratchet-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  fs::create_directory(dir_, ec);
  if (ec || !WriteText(dir_ / "pids.max", std::to_string(max_pids))) {
    reason_ = "cannot create a pids cgroup in " + root.string() + ": processes are not bounded";
    fs::remove(dir_, ec);
    dir_.clear();
    return;
  }
  procs_ = dir_ / "cgroup.procs";
}

ProcessLimit::~ProcessLimit() {
  // Sandboxed children are gone with their PID namespace; an unsandboxed
  // leftover is killed here (a cgroup with members cannot be removed).
  if (!dir_.empty()) RemoveCgroup(dir_);
}

}  // namespace ratchet

// What a child of the loop may see and touch: bubblewrap (the sandbox Flatpak
// uses) around its argv.
//
// Every sandboxed child sees the system read-only, a private /tmp, /var/tmp,
// /root and /home (empty tmpfs) with only its `tools` bound back, its own PID
// namespace (the controller's /proc is not visible; when the child exits
// every process it left behind, daemons included, is killed with the
// namespace), no IPC with the host and, unless the policy allows it, no
// network. `hidden` folders are emptied
// before `read_only` and `writable` ones are bound back on top, so a child
// sees of the workspace only what it was given (not the store, not .git, not
// other runs) and of the data folder nothing unless given.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ratchet {

struct SandboxPolicy {
  // Bound read-only first, where a private /tmp or home would hide them: the
  // programs (bin dir), the spec's folder, the pinned evaluator files.
  std::vector<std::filesystem::path> tools;
  std::vector<std::filesystem::path> hidden;     // then emptied (tmpfs), e.g. the workspace
  std::vector<std::filesystem::path> read_only;  // then bound read-only
  std::vector<std::filesystem::path> writable;   // then bound read-write
  std::filesystem::path cwd;                     // where the child starts
  bool network = false;
};

// `bwrap ... -- argv...`. Paths that do not exist are skipped (a bind of a
// missing path would fail the start).
std::vector<std::string> SandboxArgv(const SandboxPolicy& policy,
                                     const std::vector<std::string>& argv);

// Runs `request` under the sandbox: its argv wrapped by SandboxArgv, and
// bwrap's report of a child killed by signal N (exit 128 + N) read back as
// that signal.
struct RunRequest;
void Contain(RunRequest& request, const SandboxPolicy& policy);

// "" when bubblewrap starts a sandbox here; otherwise one line saying what is
// missing and how to install it, or to run with --no-sandbox.
std::string SandboxUnavailable();

}  // namespace ratchet

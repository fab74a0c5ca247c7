#include "ratchet/runner/sandbox.h"

#include <unistd.h>

#include "ratchet/runner/runner.h"

namespace ratchet {

namespace fs = std::filesystem;

std::vector<std::string> SandboxArgv(const SandboxPolicy& policy,
                                     const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc",
                                  "--unshare-uts", "--ro-bind", "/", "/", "--dev", "/dev",
                                  "--proc", "/proc"};
  if (!policy.network) out.push_back("--unshare-net");
  for (const char* dir : {"/tmp", "/var/tmp", "/root", "/home"}) {
    out.insert(out.end(), {"--tmpfs", dir});
  }
  std::error_code ec;
  auto add = [&](const char* option, const fs::path& path) {
    if (!fs::exists(path, ec)) return;
    const std::string p = fs::absolute(path, ec).lexically_normal().string();
    if (std::string(option) == "--tmpfs") {
      out.insert(out.end(), {option, p});
    } else {
      out.insert(out.end(), {option, p, p});
    }
  };
  for (const fs::path& p : policy.tools) add("--ro-bind", p);
  for (const fs::path& p : policy.hidden) add("--tmpfs", p);
  for (const fs::path& p : policy.read_only) add("--ro-bind", p);
  for (const fs::path& p : policy.writable) add("--bind", p);
  if (!policy.cwd.empty()) out.insert(out.end(), {"--chdir", policy.cwd.string()});
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void Contain(RunRequest& request, const SandboxPolicy& policy) {
  request.argv = SandboxArgv(policy, request.argv);
  request.signal_in_exit_code = true;  // bwrap exits 128 + N for its child's signal N
}

std::string SandboxUnavailable() {
  PosixProcessRunner runner;
  RunRequest probe;
  probe.argv = SandboxArgv({}, {"/bin/true"});
  probe.timeout_seconds = 10;
  const fs::path err =
      fs::temp_directory_path() / ("ratchet-sandbox-probe-" + std::to_string(::getpid()));
  probe.stderr_path = err;
  const RunResult r = runner.Run(probe);
  std::string why = ReadLogTail(err, 300);
  std::error_code ec;
  fs::remove(err, ec);
  if (r.Succeeded()) return "";
  while (!why.empty() && why.back() == '\n') why.pop_back();
  why = why.substr(why.rfind('\n') == std::string::npos ? 0 : why.rfind('\n') + 1);  // one line
  if (r.outcome == RunResult::Outcome::kSpawnFailed) {
    return "the sandbox needs bubblewrap, which is not installed (apt-get install bubblewrap), or "
           "run with --no-sandbox";
  }
  return "the sandbox (bubblewrap) cannot start here: " + (why.empty() ? r.Describe() : why) +
         " (user namespaces may be disabled); fix that or run with --no-sandbox";
}

}  // namespace ratchet

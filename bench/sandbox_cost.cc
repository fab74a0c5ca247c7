// ratchet-bench-sandbox: what the sandbox adds to one child start. Runs a
// trivial child (/bin/true) through the loop's runner plain and under
// bubblewrap with a train-like policy (a workspace hidden, a worktree and a
// run folder bound writable, a data folder read-only), interleaved, and
// prints the median wall milliseconds of each and their difference.
//
//   ratchet-bench-sandbox [STARTS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "ratchet/runner/runner.h"
#include "ratchet/runner/sandbox.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const int starts = argc > 1 ? std::atoi(argv[1]) : 50;
  if (starts < 1) {
    std::fprintf(stderr, "usage: %s [STARTS >= 1]\n", argv[0]);
    return 2;
  }
  if (const std::string why = ratchet::SandboxUnavailable(); !why.empty()) {
    std::fprintf(stderr, "%s\n", why.c_str());
    return 1;
  }
  const fs::path root = fs::temp_directory_path() / "ratchet-bench-sandbox";
  for (const char* dir : {"ws/.ratchet/worktrees/t-1", "ws/.ratchet/runs/t/1.0", "ws/.ratchet/data/t"}) {
    fs::create_directories(root / dir);
  }
  ratchet::SandboxPolicy policy;
  policy.hidden = {root / "ws"};
  policy.read_only = {root / "ws/.ratchet/data/t"};
  policy.writable = {root / "ws/.ratchet/worktrees/t-1", root / "ws/.ratchet/runs/t/1.0"};
  policy.cwd = root / "ws/.ratchet/worktrees/t-1";

  ratchet::PosixProcessRunner runner;
  std::vector<double> plain, sandboxed;
  for (int i = 0; i < starts; ++i) {
    ratchet::RunRequest request;
    request.argv = {"/bin/true"};
    plain.push_back(runner.Run(request).wall_seconds * 1e3);
    request.argv = ratchet::SandboxArgv(policy, {"/bin/true"});
    const ratchet::RunResult r = runner.Run(request);
    if (!r.Succeeded()) {
      std::fprintf(stderr, "sandboxed start failed: %s\n", r.Describe().c_str());
      return 1;
    }
    sandboxed.push_back(r.wall_seconds * 1e3);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double a = median(plain), b = median(sandboxed);
  std::printf("{\"starts\": %d, \"plain_ms\": %.2f, \"sandboxed_ms\": %.2f, \"added_ms\": %.2f}\n",
              starts, a, b, b - a);
  fs::remove_all(root);
}

// ratchet-bench-slurm: the latency of one run as a Slurm job (SlurmRunner)
// against a local child (PosixProcessRunner). Runs `sleep WORK_SECONDS`
// (default 0: /bin/true) both ways, interleaved, and prints as JSON the
// median, min and max of: local wall seconds; Slurm seconds from sbatch to
// the job seen running; Slurm wall seconds from sbatch to the job seen
// finished.
//
//   eval "$(scripts/local-slurm start)"; build/bin/ratchet-bench-slurm [JOBS] [WORK_SECONDS]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"
#include "ratchet/runner/runner.h"
#include "ratchet/runner/slurm_runner.h"

namespace fs = std::filesystem;

namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// "name": {"median": m, "min": a, "max": b}
std::string Summary(const char* name, std::vector<double> seconds) {
  std::sort(seconds.begin(), seconds.end());
  char buf[160];
  std::snprintf(buf, sizeof buf, "\"%s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}", name,
                seconds[seconds.size() / 2], seconds.front(), seconds.back());
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 10;
  const std::string work = argc > 2 ? argv[2] : "0";
  if (jobs < 1 || std::atof(work.c_str()) < 0) {
    std::fprintf(stderr, "usage: %s [JOBS >= 1] [WORK_SECONDS >= 0]\n", argv[0]);
    return 2;
  }
  if (!std::getenv("SLURM_CONF")) {
    std::fprintf(stderr, "SLURM_CONF is not set: eval \"$(scripts/local-slurm start)\" first\n");
    return 1;
  }
  const fs::path dir = fs::temp_directory_path() / ("ratchet-bench-slurm." + std::to_string(::getpid()));
  fs::create_directories(dir);
  ratchet::PosixProcessRunner local;
  ratchet::SlurmRunner slurm{ratchet::SlurmOptions{}};
  std::vector<double> local_wall, slurm_start, slurm_wall;
  try {
    for (int i = 0; i < jobs; ++i) {
      ratchet::RunRequest request;
      request.argv = {"/bin/sleep", work};
      request.cwd = dir;
      request.stdout_path = dir / "run.stdout";
      request.stderr_path = dir / "run.stderr";
      local_wall.push_back(local.Run(request).wall_seconds);

      const double submitted = Now();
      double running = 0;
      request.on_job = [&](const std::string&, const std::string& node) {
        if (!node.empty()) running = Now() - submitted;
      };
      const ratchet::RunResult r = slurm.Run(request);
      if (!r.Succeeded()) throw ratchet::Error("slurm job " + r.job_id + ": " + r.Describe());
      slurm_start.push_back(running);
      slurm_wall.push_back(r.wall_seconds);
    }
  } catch (const ratchet::Error& e) {
    std::fprintf(stderr, "ratchet-bench-slurm: %s\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  std::printf("{\"jobs\": %d, \"work_s\": %s, %s, %s, %s}\n", jobs, work.c_str(), Summary("local_wall_s", local_wall).c_str(),
              Summary("slurm_sbatch_to_running_s", slurm_start).c_str(),
              Summary("slurm_wall_s", slurm_wall).c_str());
  fs::remove_all(dir);
}

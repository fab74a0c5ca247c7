// ratchet-run-steps: what a Slurm job runs on its node for one measurement
// (job_steps.h). A program of its own rather than a `ratchet` command: it
// starts in a few milliseconds, where `ratchet` loads libgit2 and its TLS
// stack first, and a job's start-up is paid once per measurement.
//
//   ratchet-run-steps PLAN RESULTS [HARDWARE]
//
// HARDWARE: first write this node's hardware (HardwareInfo JSON) there, so
// the measurement knows where it ran without another program start.
#include <cstdio>
#include <exception>
#include <string>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/runner/job_steps.h"
#include "ratchet/store/hardware.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: ratchet-run-steps PLAN RESULTS [HARDWARE]\n");
    return 2;
  }
  try {
    if (argc == 4) ratchet::WriteFileAtomic(argv[3], ratchet::DetectHardware().ToJson().dump() + "\n");
    ratchet::RunPlannedSteps(argv[1], argv[2]);
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "ratchet-run-steps: error: %s\n", error.what());
    return 1;
  }
}

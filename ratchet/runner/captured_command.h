// Running a short helper command (sbatch, scontrol, scancel) and reading what
// it printed.
//
// The helper's stdout and stderr are merged into one string: on success it is
// the answer (a job id, a job record), on failure the one-line complaint to
// pass on. Unlike PosixProcessRunner there is no log file, no deadline and no
// cap: the helpers are Slurm's own clients, which give up by themselves
// (MessageTimeout) when the controller does not answer.
#pragma once

#include <string>
#include <vector>

namespace ratchet {

struct CommandOutput {
  bool started = false;  // False: the program could not be executed (see output).
  int exit_code = -1;    // -1 unless it exited normally.
  std::string output;    // stdout and stderr interleaved as they came.
};

// Runs argv (PATH lookup) with stdin from /dev/null and waits for it.
// Throws ratchet::Error only when pipe() or clone() fail.
// REQUIRES: !argv.empty().
CommandOutput RunCaptured(const std::vector<std::string>& argv);

}  // namespace ratchet

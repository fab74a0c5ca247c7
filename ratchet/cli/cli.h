// The `ratchet` subcommands. main.cc parses flags with CLI11 into these
// option structs and calls one function per subcommand; every function
// writes to `out` and throws ratchet::Error on failure (main turns that into
// a one-line message and exit code 1). Read-only commands open the store
// read-only, so they work while a run is going.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "ratchet/loop/loop.h"

namespace ratchet {

// `ratchet run`: installs the Ctrl-C handlers (first: finish the current
// experiment and stop; second: kill it and stop), runs, prints a summary.
// Keeps <workspace>/.ratchet/runs/<tag>/results.tsv current (results_tsv.h).
// Returns the process exit code.
int CommandRun(const RunOptions& options, std::ostream& out);

struct ReadOptions {
  std::filesystem::path workspace;
  std::string tag;               // empty: the most recently active run
  std::string format = "table";  // table | json | tsv (log); table | json (best)
};

void CommandStatus(const ReadOptions& options, std::ostream& out);
void CommandLog(const ReadOptions& options, std::ostream& out);
void CommandShow(const ReadOptions& options, int64_t seq, std::ostream& out);
void CommandBest(const ReadOptions& options, std::ostream& out);

// "HH:MM" → the next UNIX time at that local wall-clock time (today if still
// ahead, else tomorrow). Throws Error on a malformed value.
double ParseUntil(const std::string& hh_mm, double now);

}  // namespace ratchet

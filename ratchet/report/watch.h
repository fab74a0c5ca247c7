// `ratchet status --watch`: redraws a run's current state — phase of the
// current experiment, elapsed time against the run's limits, the last
// results, the best — every interval until the run ends. Reads the store
// only (read-only, so it never disturbs the controller).
//
// On a terminal each frame clears the screen (ANSI clear + home); otherwise
// (a pipe, a log file) frames are printed one after another, separated by a
// blank line.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "ratchet/report/report_data.h"

namespace ratchet {

struct WatchOptions {
  std::filesystem::path workspace;
  std::string tag;         // empty: the most recently active run
  double interval = 2.0;   // seconds between frames
  int last_results = 8;    // finished experiments shown
  int64_t max_frames = 0;  // 0: until the run ends (tests set a limit)
};

// One frame: what `status --watch` prints each interval. `now` is the UNIX time.
// `controller_alive`: whether a controller holds the workspace lock.
std::string RenderWatchFrame(const RunData& data, double now, bool controller_alive,
                             int last_results);

// Whether the run is over: its state is not running, or no controller is alive.
bool RunEnded(const RunData& data, bool controller_alive);

// The controller holding the workspace lock, if alive.
std::optional<long> LockHolderPid(const std::filesystem::path& workspace);

// Draws frames to `out` until the run ends (or max_frames). `is_tty` selects
// clear-and-redraw. `sleep` is injectable for tests.
void WatchStatus(const WatchOptions& options, std::ostream& out, bool is_tty,
                 const std::function<void(double seconds)>& sleep);

}  // namespace ratchet

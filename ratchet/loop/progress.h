// What the terminal shows during a run. On a TTY: one live line redrawn in
// place (experiment, phase, elapsed / budget, best) with finished experiments
// printed above it; otherwise plain log lines, one per event, for log files.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace ratchet {

class Progress {
 public:
  // `out` is where lines go; `live` selects the redrawn line (use IsTty).
  Progress(std::FILE* out, bool live);

  // A new phase began ("train", "evaluate", "confirm 1/2"...).
  void Phase(int64_t seq, const std::string& phase, double budget_seconds,
             std::optional<double> best);
  // Redraws the live line with the current elapsed time. Cheap: at most a
  // few redraws a second; a no-op without a live line.
  void Tick();
  // A line that stays (an experiment's outcome, a warning).
  void Line(const std::string& text);
  // Clears the live line (end of run).
  void Finish();

  static bool IsTty(std::FILE* stream);

 private:
  void Redraw();

  std::FILE* out_;
  bool live_;
  int64_t seq_ = -1;
  std::string phase_;
  double budget_seconds_ = 0;
  std::optional<double> best_;
  double phase_started_ = 0;
  double last_redraw_ = 0;
  bool line_shown_ = false;
};

}  // namespace ratchet

// What the terminal shows during a run. On a TTY: one live line redrawn in
// place with finished experiments printed above it; while a measurement
// trains, the line follows the trainer's progress lines (training_log.h):
//   [3] confirm 1/2 train   8.2s / 15s  loss 3.412  11.5k tok/s  eta 9s  best 3.6412
// Otherwise plain lines for log files: one per phase, and during training one
// at each quarter of the budget.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ratchet/runner/training_log.h"

namespace ratchet {

// What bounds a training phase: seconds or tokens (0 = not known).
struct PhaseBudget {
  double seconds = 0;
  int64_t tokens = 0;
};

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  // `out` is where lines go; `live` selects the redrawn line (use IsTty).
  Progress(std::FILE* out, bool live, Clock clock = {});

  // A new phase began ("propose", "train", "confirm 1/2 evaluate"...). A
  // training phase names the log its progress lines go to (`train_log`).
  void Phase(int64_t seq, const std::string& phase, std::optional<double> best,
             PhaseBudget budget = {}, const std::filesystem::path& train_log = {});
  // Called often while a child runs; cheap: reads the training log and
  // redraws a few times a second at most.
  void Tick();
  // A line that stays (an experiment's outcome, a warning).
  void Line(const std::string& text);
  // Clears the live line (end of run).
  void Finish();

  static bool IsTty(std::FILE* stream);

 private:
  void Redraw();
  std::string Status(double elapsed) const;  // elapsed / budget, loss, rate, eta
  double Fraction(double elapsed) const;     // of the budget done, 0 when unknown

  std::FILE* out_;
  bool live_;
  Clock clock_;
  int64_t seq_ = -1;
  std::string phase_;
  PhaseBudget budget_;
  std::filesystem::path train_log_;
  std::optional<TrainingPoint> last_point_;
  std::optional<double> best_;
  double phase_started_ = 0;
  double last_redraw_ = 0;
  int quarters_printed_ = 0;
  std::optional<double> evaluate_seconds_;  // how long the last evaluation took
  bool line_shown_ = false;
};

}  // namespace ratchet

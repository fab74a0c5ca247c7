// When training stops, and how far along it is (the schedules' progress).
//   time  : stops before the first step that would start at or after
//           `seconds` of training-loop wall time (start-up excluded). The
//           overshoot is at most one step.
//   tokens: the budget is consumed in whole optimizer steps of
//           tokens_per_step = batch_size * seq_len * grad_accum tokens; the run
//           takes floor(budget / tokens_per_step) steps, so it trains on exactly
//           steps * tokens_per_step <= budget tokens (the summary reports it).
//           A budget smaller than one step is an error.
#pragma once

#include <cstdint>

namespace ratchet::train {

struct Budget {
  enum class Kind { kTime, kTokens };
  Kind kind = Kind::kTime;
  double seconds = 0;  // kTime
  int64_t tokens = 0;  // kTokens
};

class BudgetTracker {
 public:
  // Throws ratchet::Error if the budget is not positive or a token budget is
  // smaller than one step.
  BudgetTracker(const Budget& budget, int64_t tokens_per_step);

  // Whether another step may run, given the loop's elapsed seconds and the
  // tokens trained so far.
  bool ShouldContinue(double elapsed, int64_t tokens_done) const;

  // Share of the budget used, in [0, 1].
  double Progress(double elapsed, int64_t tokens_done) const;

  // Steps a token budget allows (0 for a time budget).
  int64_t max_steps() const { return max_steps_; }

 private:
  Budget budget_;
  int64_t tokens_per_step_;
  int64_t max_steps_ = 0;
};

}  // namespace ratchet::train

#include "trainer/budget.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"

namespace ratchet::train {

BudgetTracker::BudgetTracker(const Budget& budget, int64_t tokens_per_step)
    : budget_(budget), tokens_per_step_(tokens_per_step) {
  if (budget.kind == Budget::Kind::kTime) {
    if (!(budget.seconds > 0) || !std::isfinite(budget.seconds)) {
      throw Error("--time-budget: must be a positive number of seconds");
    }
  } else {
    if (budget.tokens < tokens_per_step) {
      throw Error("--token-budget: " + std::to_string(budget.tokens) +
                  " is smaller than one step of " + std::to_string(tokens_per_step) +
                  " tokens (batch_size * seq_len * grad_accum)");
    }
    max_steps_ = budget.tokens / tokens_per_step;
  }
}

bool BudgetTracker::ShouldContinue(double elapsed, int64_t tokens_done) const {
  if (budget_.kind == Budget::Kind::kTime) return elapsed < budget_.seconds;
  return tokens_done + tokens_per_step_ <= budget_.tokens;
}

double BudgetTracker::Progress(double elapsed, int64_t tokens_done) const {
  double p = budget_.kind == Budget::Kind::kTime
                 ? elapsed / budget_.seconds
                 : static_cast<double>(tokens_done) / static_cast<double>(max_steps_ * tokens_per_step_);
  return std::clamp(p, 0.0, 1.0);
}

}  // namespace ratchet::train

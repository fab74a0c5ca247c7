// Learning-rate schedules. Progress p in [0, 1] is the share of the budget
// used so far (time budget: elapsed / seconds; token budget: tokens / budget),
// so one schedule serves both kinds of budget. Every schedule warms up
// linearly over the first warmup_frac (never below 1% of the rate, so the
// first step is not wasted), then:
//   constant: 1
//   linear  : straight from 1 down to min_lr_frac at p = 1
//   cosine  : half cosine from 1 down to min_lr_frac at p = 1
//   wsd     : 1 until p = 1 - cooldown_frac, then straight down to min_lr_frac
// (cooldown_frac only shapes wsd).
#pragma once

#include "trainer/config.h"

namespace ratchet::train {

// Multiplier of every base learning rate at progress p (clamped to [0, 1]).
double LrMultiplier(const Config& config, double progress);

}  // namespace ratchet::train

#include "trainer/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ratchet::train {

double LrMultiplier(const Config& c, double p) {
  p = std::clamp(p, 0.0, 1.0);
  const double w = c.warmup_frac;
  if (p < w) return std::max(p / w, 0.01);
  const double lo = c.min_lr_frac;
  switch (c.schedule) {
    case ScheduleKind::kConstant:
      return 1.0;
    case ScheduleKind::kLinear: {
      if (w >= 1.0) return 1.0;
      double q = (p - w) / (1.0 - w);
      return 1.0 + (lo - 1.0) * q;
    }
    case ScheduleKind::kCosine: {
      if (w >= 1.0) return 1.0;
      double q = (p - w) / (1.0 - w);
      return lo + (1.0 - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * q));
    }
    case ScheduleKind::kWsd: {
      const double start = 1.0 - c.cooldown_frac;
      if (p <= start || c.cooldown_frac <= 0.0) return 1.0;
      double q = (p - start) / c.cooldown_frac;
      return 1.0 + (lo - 1.0) * q;
    }
  }
  return 1.0;
}

}  // namespace ratchet::train

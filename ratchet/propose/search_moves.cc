#include "ratchet/propose/search_moves.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ratchet/propose/search_proposer.h"

namespace ratchet {

bool CanChange(const Param& p, const nlohmann::json* value) {
  if (p.type != Param::Type::kChoice) return true;
  return p.values.size() > 1 || value == nullptr || *value != p.values[0];
}

nlohmann::json PerturbValue(const SearchSpace& space, const Param& p, const nlohmann::json* old,
                            double step, std::mt19937_64& rng) {
  if (old == nullptr || !space.Contains(p, *old)) return SampleValue(p, rng);
  std::normal_distribution<double> normal(0.0, 1.0);
  switch (p.type) {
    case Param::Type::kFloat: {
      double v = old->get<double>(), z = normal(rng), moved;
      if (p.log && v > 0) {
        moved = std::exp(std::log(v) + z * step * std::log(p.max / p.min));
      } else {
        moved = v + z * step * (p.max - p.min);
      }
      return std::clamp(RoundSignificant(moved), p.min, p.max);
    }
    case Param::Type::kInt: {
      auto v = old->get<int64_t>();
      auto lo = static_cast<int64_t>(p.min), hi = static_cast<int64_t>(p.max);
      double z = normal(rng), target;
      if (p.log && v > 0) {
        target = static_cast<double>(v) * std::exp(z * step * std::log(p.max / p.min));
      } else {
        target = static_cast<double>(v) + z * step * (p.max - p.min);
      }
      auto moved = static_cast<int64_t>(std::llround(target));
      // At least ±1, and away from a bound rather than into it.
      if (moved == v) moved = v + (z >= 0 ? 1 : -1);
      if (moved > hi) moved = v < hi ? hi : v - 1;
      if (moved < lo) moved = v > lo ? lo : v + 1;
      return std::clamp(moved, lo, hi);
    }
    case Param::Type::kChoice: {
      std::vector<nlohmann::json> others;
      for (const nlohmann::json& c : p.values) {
        if (c != *old) others.push_back(c);
      }
      if (others.empty()) return *old;
      return others[std::uniform_int_distribution<size_t>(0, others.size() - 1)(rng)];
    }
    case Param::Type::kBool:
      return !old->get<bool>();
  }
  return *old;
}

void RestoreInactive(const SearchSpace& space, const nlohmann::json& current,
                     nlohmann::json& config) {
  for (const Param& p : space.params) {
    if (space.IsActive(p, config)) continue;
    const nlohmann::json* old = GetPath(current, p.name);
    const nlohmann::json* now = GetPath(config, p.name);
    if (old != nullptr) {
      SetPath(config, p.name, *old);
    } else if (now != nullptr) {
      // Erase the key the strategy added.
      std::string parent =
          p.name.substr(0, p.name.rfind('.') == std::string::npos ? 0 : p.name.rfind('.'));
      std::string leaf =
          p.name.substr(p.name.rfind('.') == std::string::npos ? 0 : p.name.rfind('.') + 1);
      nlohmann::json* holder = &config;
      if (!parent.empty()) holder = const_cast<nlohmann::json*>(GetPath(config, parent));
      if (holder != nullptr && holder->is_object()) holder->erase(leaf);
    }
  }
}

std::vector<Observation> Observations(const ProposalContext& ctx, bool include_prior,
                                      const nlohmann::json& baseline_params) {
  const bool maximize = ctx.spec.metric.goal == MetricSpec::Goal::kMaximize;
  std::vector<Observation> out;
  // The baseline is recorded without params; `baseline_params` (the
  // worktree's config) are its params only while it is still the best.
  bool baseline_is_best = true;
  for (const HistoryEntry& e : ctx.history) {
    if (e.seq > 0 && e.status == "accepted") baseline_is_best = false;
  }
  auto add = [&](const HistoryEntry& e, bool prior) {
    Observation o;
    o.seq = e.seq;
    o.prior = prior;
    o.params = e.params;
    if (e.seq == 0 && !prior && baseline_is_best && (!o.params.is_object() || o.params.empty())) {
      o.params = baseline_params;
    }
    if (!o.params.is_object() || o.params.empty()) return;
    if (e.status == "crashed" || e.status == "timeout") {
      o.failed = true;
    } else if ((e.status == "accepted" || e.status == "rejected") && e.metric &&
               std::isfinite(*e.metric)) {
      o.loss = maximize ? -*e.metric : *e.metric;
    } else {
      return;
    }
    out.push_back(std::move(o));
  };
  if (include_prior) {
    for (const HistoryEntry& e : ctx.prior) add(e, true);
  }
  for (const HistoryEntry& e : ctx.history) add(e, false);
  return out;
}

bool SameSearchPoint(const SearchSpace& space, const nlohmann::json& a, const nlohmann::json& b) {
  for (const Param& p : space.params) {
    const nlohmann::json* x = GetPath(a, p.name);
    const nlohmann::json* y = GetPath(b, p.name);
    if (x == y) continue;
    if (x == nullptr || y == nullptr || *x != *y) return false;
  }
  return true;
}

bool Measured(const SearchSpace& space, const std::vector<Observation>& observed,
              const nlohmann::json& config) {
  for (const Observation& o : observed) {
    if (SameSearchPoint(space, o.params, config)) return true;
  }
  return false;
}

int64_t ExperimentsSinceAccepted(const std::vector<HistoryEntry>& history) {
  int64_t count = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    // A carried change beat its parent: progress as much as an acceptance.
    if (it->status == "accepted" || it->carried) break;
    if (it->status == "duplicate" || it->status == "interrupted") continue;
    ++count;
  }
  return count;
}

PlateauState Plateau(const std::string& kind, const std::vector<HistoryEntry>& history, int plateau,
                     double base_step) {
  PlateauState state;
  const int64_t since = ExperimentsSinceAccepted(history);
  state.level = plateau > 0 ? static_cast<int>(std::min<int64_t>(since / plateau, 30)) : 0;
  state.step = std::min(1.0, base_step * std::ldexp(1.0, state.level));
  if (state.level > 0 && since % plateau == 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s: plateau, %lld experiments without an accepted change; step %.3g -> %.3g",
                  kind.c_str(), static_cast<long long>(since),
                  std::min(1.0, base_step * std::ldexp(1.0, state.level - 1)), state.step);
    state.note = buf;
  }
  return state;
}

}  // namespace ratchet

// `local`: one or two active parameters of the best config nudged by a step
// in the parameter's own scale (proposer.step, a fraction of the range,
// default 0.1; on log scales a fraction of the log-range). A hill climber:
// small moves from the best, which the ratchet keeps when they help.
#include <algorithm>
#include <cmath>

#include "ratchet/search_proposer.h"

namespace ratchet {
namespace {

class LocalProposer : public SearchProposer {
 public:
  explicit LocalProposer(const Spec& spec)
      : SearchProposer(spec), step_(spec.proposer.options.value("step", 0.1)) {}

 protected:
  nlohmann::json Mutate(const ProposalContext&, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    std::vector<const Param*> candidates;
    for (const Param& p : space_.params) {
      if (space_.IsActive(p, current) && CanChange(p, GetPath(current, p.name))) {
        candidates.push_back(&p);
      }
    }
    nlohmann::json next = current;
    if (candidates.empty()) return next;
    size_t k = std::min<size_t>(candidates.size(), std::uniform_int_distribution<int>(1, 2)(rng));
    std::shuffle(candidates.begin(), candidates.end(), rng);
    candidates.resize(k);
    for (const Param* p : space_.AssignmentOrder()) {
      if (std::find(candidates.begin(), candidates.end(), p) == candidates.end()) continue;
      // The first change may have switched this one off: then it stays as is.
      if (!space_.IsActive(*p, next)) continue;
      SetPath(next, p->name, Perturb(*p, GetPath(current, p->name), rng));
    }
    return next;
  }

 private:
  bool CanChange(const Param& p, const nlohmann::json* value) const {
    if (p.type != Param::Type::kChoice) return true;
    return p.values.size() > 1 || value == nullptr || *value != p.values[0];
  }

  // A value near `old` (a fresh sample when `old` is missing or illegal).
  nlohmann::json Perturb(const Param& p, const nlohmann::json* old, std::mt19937_64& rng) const {
    if (old == nullptr || !space_.Contains(p, *old)) return SampleValue(p, rng);
    std::normal_distribution<double> normal(0.0, 1.0);
    switch (p.type) {
      case Param::Type::kFloat: {
        double v = old->get<double>(), z = normal(rng), moved;
        if (p.log && v > 0) {
          moved = std::exp(std::log(v) + z * step_ * std::log(p.max / p.min));
        } else {
          moved = v + z * step_ * (p.max - p.min);
        }
        return std::clamp(RoundSignificant(moved), p.min, p.max);
      }
      case Param::Type::kInt: {
        auto v = old->get<int64_t>();
        auto lo = static_cast<int64_t>(p.min), hi = static_cast<int64_t>(p.max);
        double z = normal(rng), target;
        if (p.log && v > 0) {
          target = static_cast<double>(v) * std::exp(z * step_ * std::log(p.max / p.min));
        } else {
          target = static_cast<double>(v) + z * step_ * (p.max - p.min);
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
        return others[std::uniform_int_distribution<size_t>(0, others.size() - 1)(rng)];
      }
      case Param::Type::kBool:
        return !old->get<bool>();
    }
    return *old;
  }

  double step_;
};

}  // namespace

std::unique_ptr<Proposer> MakeLocalProposer(const Spec& spec) {
  return std::make_unique<LocalProposer>(spec);
}

}  // namespace ratchet

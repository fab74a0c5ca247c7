// `evolution`: a steady-state genetic algorithm over the run's history. The
// population is the best `population` distinct configurations measured so far
// (the current best always among them, warm-start runs included); a child is
// the uniform crossover of two parents picked by binary tournament, then each
// active parameter is mutated with probability 1/n (at least one when the
// child would repeat a measured configuration) by a step of `step` × range,
// widened on plateaus as for `local`. Until `population` configurations
// are measured it draws random ones (the first generation).
#include <algorithm>
#include <cmath>

#include "ratchet/propose/search_moves.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

class EvolutionProposer : public SearchProposer {
 public:
  explicit EvolutionProposer(const Spec& spec)
      : SearchProposer(spec),
        population_(spec.proposer.options.value("population", 8)),
        step_(spec.proposer.options.value("step", 0.1)),
        plateau_(spec.proposer.plateau) {}

 protected:
  nlohmann::json Mutate(const ProposalContext& ctx, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    const double step = Plateau(kind_, ctx.history, plateau_, step_).step;
    std::vector<Observation> all = Observations(ctx, /*include_prior=*/true, current);

    // Population: the best distinct measured configurations, best first.
    std::vector<const Observation*> ranked;
    for (const Observation& o : all) {
      if (!o.failed) ranked.push_back(&o);
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const Observation* a, const Observation* b) { return a->loss < b->loss; });
    std::vector<nlohmann::json> population = {current};
    for (const Observation* o : ranked) {
      if (static_cast<int>(population.size()) >= population_) break;
      bool seen = false;
      for (const nlohmann::json& m : population)
        seen = seen || SameSearchPoint(space_, m, o->params);
      if (!seen) population.push_back(o->params);
    }

    // The first generation: random individuals until the population is full
    // (mutating only the baseline would search a small corner of the space).
    if (static_cast<int>(ranked.size()) < population_) return RandomConfig(space_, current, rng);

    nlohmann::json child = current;
    if (population.size() >= 2) {
      // Binary tournament: population is sorted best first except `current`
      // at 0, which is the ratchet's best and wins ties.
      auto pick = [&]() -> const nlohmann::json& {
        std::uniform_int_distribution<size_t> any(0, population.size() - 1);
        size_t a = any(rng), b = any(rng);
        return population[std::min(a, b)];
      };
      const nlohmann::json& mother = pick();
      const nlohmann::json& father = pick();
      for (const Param* p : space_.AssignmentOrder()) {
        if (!space_.IsActive(*p, child)) continue;
        bool from_father = std::bernoulli_distribution(0.5)(rng);
        const nlohmann::json* v = GetPath(from_father ? father : mother, p->name);
        if (v == nullptr || !space_.Contains(*p, *v))
          v = GetPath(from_father ? mother : father, p->name);
        if (v != nullptr && space_.Contains(*p, *v)) SetPath(child, p->name, *v);
      }
    }

    // Mutation: each active parameter with probability 1/n.
    std::vector<const Param*> active;
    for (const Param* p : space_.AssignmentOrder()) {
      if (space_.IsActive(*p, child) && CanChange(*p, GetPath(child, p->name))) active.push_back(p);
    }
    if (active.empty()) return child;
    const double rate = 1.0 / static_cast<double>(active.size());
    bool mutated = false;
    for (const Param* p : active) {
      if (!space_.IsActive(*p, child)) continue;  // switched off by an earlier change
      if (std::bernoulli_distribution(rate)(rng)) {
        SetPath(child, p->name, PerturbValue(space_, *p, GetPath(child, p->name), step, rng));
        mutated = true;
      }
    }
    // A child equal to a measured configuration would only be a duplicate:
    // move it until it is new (a few tries; tiny spaces may have no new point).
    auto measured = [&](const nlohmann::json& c) {
      return SameSearchPoint(space_, c, current) || Measured(space_, all, c);
    };
    for (int attempt = 0; attempt < 32 && (!mutated || measured(child)); ++attempt) {
      const Param* p = active[std::uniform_int_distribution<size_t>(0, active.size() - 1)(rng)];
      if (!space_.IsActive(*p, child)) continue;
      SetPath(child, p->name, PerturbValue(space_, *p, GetPath(child, p->name), step, rng));
      mutated = true;
    }
    RestoreInactive(space_, current, child);
    return child;
  }

  std::string Note(const ProposalContext& ctx) const override {
    return Plateau(kind_, ctx.history, plateau_, step_).note;
  }

 private:
  const int population_;
  const double step_;
  const int plateau_;
};

}  // namespace

std::unique_ptr<Proposer> MakeEvolutionProposer(const Spec& spec) {
  return std::make_unique<EvolutionProposer>(spec);
}

}  // namespace ratchet

// `additive`: Thompson sampling from a Bayesian additive model of the loss
// (additive_model.h). Every measured configuration of the run (and of earlier
// runs with `--warm-start`) is a row, its loss replaced by its normal score
// (rank), so a few diverged runs do not swamp the fit; crashed and timed-out
// configs count as the worst. Each proposal draws one model from the
// posterior and runs the best of `candidates` configs under it: half drawn
// uniformly, half the five best measured configs with one to three
// parameters moved by `step` × range (a choice switched). Before `startup`
// measured configurations it samples uniformly, like `random`.
//
// Plateaus: after proposer.plateau experiments without an accepted change the
// local moves' step doubles, as `local`'s does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "ratchet/propose/additive_model.h"
#include "ratchet/propose/search_moves.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

class AdditiveProposer : public SearchProposer {
 public:
  explicit AdditiveProposer(const Spec& spec)
      : SearchProposer(spec),
        startup_(spec.proposer.options.value("startup", 10)),
        candidates_(spec.proposer.options.value("candidates", 2000)),
        step_(spec.proposer.options.value("step", 0.2)),
        plateau_(spec.proposer.plateau) {}

 protected:
  nlohmann::json Mutate(const ProposalContext& ctx, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    const std::vector<Observation> all = Observations(ctx, /*include_prior=*/true, current);
    std::vector<const Observation*> done;
    double worst = -std::numeric_limits<double>::infinity();
    for (const Observation& o : all) {
      if (o.failed) continue;
      done.push_back(&o);
      worst = std::max(worst, o.loss);
    }
    if (static_cast<int>(done.size()) < startup_ || done.size() < 2) {
      return RandomConfig(space_, current, rng);
    }

    std::vector<std::vector<double>> rows;
    std::vector<double> y;
    for (const Observation& o : all) {
      rows.push_back(additive::Features(space_, o.params));
      y.push_back(o.failed ? worst : o.loss);
    }
    y = additive::NormalScores(y);
    const additive::Posterior post = additive::Fit(rows, y, kRidge);
    const std::vector<double> w = post.Draw(rng);

    std::stable_sort(done.begin(), done.end(),
                     [](const Observation* a, const Observation* b) { return a->loss < b->loss; });
    const size_t parents = std::min<size_t>(kParents, done.size());
    const double step = Plateau(kind_, ctx.history, plateau_, step_).step;
    std::vector<nlohmann::json> candidates;
    std::vector<std::pair<double, size_t>> ranked;  // predicted loss, candidate
    for (int i = 0; i < candidates_; ++i) {
      candidates.push_back(i % 2 == 0 ? RandomConfig(space_, current, rng)
                                      : Moved(done[i / 2 % parents]->params, current, step, rng));
      ranked.emplace_back(post.Predict(w, additive::Features(space_, candidates.back())), i);
    }
    std::sort(ranked.begin(), ranked.end());
    // The best not measured before (a repeat would be recorded as a duplicate).
    for (const auto& [loss, i] : ranked) {
      if (!Measured(space_, all, candidates[i])) return candidates[i];
    }
    return candidates[ranked.front().second];
  }

  std::string Note(const ProposalContext& ctx) const override {
    return Plateau(kind_, ctx.history, plateau_, step_).note;
  }

 private:
  static constexpr double kRidge = 1.0;
  static constexpr size_t kParents = 5;

  // `parent` with one to three of its active parameters moved.
  nlohmann::json Moved(const nlohmann::json& parent, const nlohmann::json& current, double step,
                       std::mt19937_64& rng) const {
    nlohmann::json next = current;
    for (const Param& p : space_.params) {
      if (const nlohmann::json* v = GetPath(parent, p.name)) SetPath(next, p.name, *v);
    }
    const int moves = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int m = 0; m < moves; ++m) {
      std::vector<const Param*> movable;
      for (const Param* p : space_.AssignmentOrder()) {
        if (space_.IsActive(*p, next) && CanChange(*p, GetPath(next, p->name)))
          movable.push_back(p);
      }
      if (movable.empty()) break;
      const Param* p = movable[std::uniform_int_distribution<size_t>(0, movable.size() - 1)(rng)];
      SetPath(next, p->name, PerturbValue(space_, *p, GetPath(next, p->name), step, rng));
    }
    RestoreInactive(space_, current, next);
    return next;
  }

  const int startup_;
  const int candidates_;
  const double step_;
  const int plateau_;
};

}  // namespace

std::unique_ptr<Proposer> MakeAdditiveProposer(const Spec& spec) {
  return std::make_unique<AdditiveProposer>(spec);
}

}  // namespace ratchet

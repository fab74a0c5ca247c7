// `local`: one or two active parameters of the best config nudged by a step
// in the parameter's own scale (proposer.step, a fraction of the range,
// default 0.1; on log scales a fraction of the log-range). A hill climber:
// small moves from the best, which the ratchet keeps when they help. Beside
// candidates in flight it moves other parameters than they do.
//
// Plateaus (search_moves.h): after every proposer.plateau experiments
// without an accepted change the step doubles (up to the whole range); from
// the third plateau on, the chosen parameters are drawn afresh instead
// (a random restart of one or two coordinates). The first experiment of each
// level says so in the run's event log (Proposal::notes).
#include <algorithm>
#include <cmath>

#include "ratchet/propose/search_moves.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

constexpr int kRestartLevel = 3;

class LocalProposer : public SearchProposer {
 public:
  explicit LocalProposer(const Spec& spec)
      : SearchProposer(spec),
        step_(spec.proposer.options.value("step", 0.1)),
        plateau_(spec.proposer.plateau) {}

 protected:
  nlohmann::json Mutate(const ProposalContext& ctx, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    const PlateauState plateau = Plateau(kind_, ctx.history, plateau_, step_);
    std::vector<const Param*> candidates;
    for (const Param& p : space_.params) {
      if (space_.IsActive(p, current) && CanChange(p, GetPath(current, p.name))) {
        candidates.push_back(&p);
      }
    }
    // With candidates in flight (`--parallel`), nudge other coordinates than
    // theirs where any are left: if both win, the two changes merge.
    std::vector<const Param*> free;
    for (const Param* p : candidates) {
      const bool busy = std::any_of(ctx.pending.begin(), ctx.pending.end(), [&](const HistoryEntry& e) {
        const nlohmann::json* theirs = GetPath(e.params, p->name);
        const nlohmann::json* mine = GetPath(current, p->name);
        return theirs && mine && *theirs != *mine;
      });
      if (!busy) free.push_back(p);
    }
    if (!free.empty() && free.size() < candidates.size()) candidates = free;
    nlohmann::json next = current;
    if (candidates.empty()) return next;
    size_t k = std::min<size_t>(candidates.size(), std::uniform_int_distribution<int>(1, 2)(rng));
    std::shuffle(candidates.begin(), candidates.end(), rng);
    candidates.resize(k);
    for (const Param* p : space_.AssignmentOrder()) {
      if (std::find(candidates.begin(), candidates.end(), p) == candidates.end()) continue;
      // The first change may have switched this one off: then it stays as is.
      if (!space_.IsActive(*p, next)) continue;
      nlohmann::json value =
          plateau.level >= kRestartLevel
              ? SampleValue(*p, rng)
              : PerturbValue(space_, *p, GetPath(current, p->name), plateau.step, rng);
      SetPath(next, p->name, value);
    }
    return next;
  }

  std::string Note(const ProposalContext& ctx) const override {
    PlateauState plateau = Plateau(kind_, ctx.history, plateau_, step_);
    if (plateau.note.empty() || plateau.level < kRestartLevel) return plateau.note;
    return plateau.note + "; drawing the changed parameters afresh";
  }

 private:
  const double step_;
  const int plateau_;
};

}  // namespace

std::unique_ptr<Proposer> MakeLocalProposer(const Spec& spec) {
  return std::make_unique<LocalProposer>(spec);
}

}  // namespace ratchet

// `random`: every active parameter drawn afresh, uniformly (log-uniformly
// on log scales). The baseline every smarter strategy must beat.
#include "ratchet/search_proposer.h"

namespace ratchet {
namespace {

class RandomProposer : public SearchProposer {
 public:
  using SearchProposer::SearchProposer;

 protected:
  nlohmann::json Mutate(const ProposalContext&, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    nlohmann::json next = current;
    // Controllers first, so a condition is judged on its controller's new value.
    for (const Param* p : space_.AssignmentOrder()) {
      nlohmann::json value = SampleValue(*p, rng);  // drawn even if unused: stable rng stream
      if (space_.IsActive(*p, next)) SetPath(next, p->name, value);
    }
    return next;
  }
};

}  // namespace

std::unique_ptr<Proposer> MakeRandomProposer(const Spec& spec) {
  return std::make_unique<RandomProposer>(spec);
}

}  // namespace ratchet

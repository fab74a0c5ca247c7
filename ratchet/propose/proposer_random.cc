// `random`: every active parameter drawn afresh, uniformly (log-uniformly
// on log scales). The baseline every smarter strategy must beat.
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

class RandomProposer : public SearchProposer {
 public:
  using SearchProposer::SearchProposer;

 protected:
  nlohmann::json Mutate(const ProposalContext&, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    return RandomConfig(space_, current, rng);
  }
};

}  // namespace

std::unique_ptr<Proposer> MakeRandomProposer(const Spec& spec) {
  return std::make_unique<RandomProposer>(spec);
}

}  // namespace ratchet

// The common frame of every search proposer (random, local, evolution, tpe,
// additive): read proposer.config from the worktree, let the strategy pick new
// values for parameters of the search space, retry until the config really
// changes, write only the changed keys back (2-space JSON, key order kept,
// trailing newline, so the diff shows just those lines) and describe the
// change as "name old -> new, ...".
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "ratchet/propose/proposer.h"
#include "ratchet/spec/search_space.h"
#include "ratchet/spec/spec.h"

namespace ratchet {

class SearchProposer : public Proposer {
 public:
  explicit SearchProposer(const Spec& spec);
  Proposal Propose(const ProposalContext& ctx) final;

  // How many times Mutate may return an unchanged config before the
  // experiment is given up as a ProposalError.
  static constexpr int kMaxTries = 200;

 protected:
  // A new config from `current` (the worktree's config). Only the values of
  // search-space parameters are taken from the result; a parameter inactive
  // under the new config must be left as it is in `current`. Called again
  // with the same rng when the result equals `current`.
  virtual nlohmann::json Mutate(const ProposalContext& ctx, const nlohmann::json& current,
                                std::mt19937_64& rng) = 0;

  // A line for the run's event log about this proposal (Proposal::notes),
  // e.g. that a plateau widened the step; "" for none.
  virtual std::string Note(const ProposalContext&) const { return ""; }

  const std::string kind_;
  const std::string config_;  // proposer.config, workspace-relative
  const SearchSpace space_;
};

// A uniformly drawn legal value of `param` (log-uniform when param.log).
// Floats are rounded to 4 significant digits, so configs stay readable.
nlohmann::json SampleValue(const Param& param, std::mt19937_64& rng);

// `current` with every active search parameter drawn afresh (SampleValue),
// controllers first so a condition is judged on its controller's new value.
// Every parameter is drawn, active or not, so the rng stream does not depend
// on the conditions.
nlohmann::json RandomConfig(const SearchSpace& space, const nlohmann::json& current,
                            std::mt19937_64& rng);

// The change from `base` to `theirs` (search-space parameters only) applied
// to `ours`, keeping ours' key order and every other value: carrying a
// config change onto a best that moved on, where a line-based merge would
// see neighbouring lines as a conflict. nullopt when a parameter was changed
// on both sides to different values.
std::optional<nlohmann::ordered_json> MergeConfigs(const SearchSpace& space,
                                                   const nlohmann::json& base,
                                                   const nlohmann::ordered_json& ours,
                                                   const nlohmann::json& theirs);

// `value` rounded to `digits` significant digits.
double RoundSignificant(double value, int digits = 4);

// "lr 0.003 -> 0.0045, act gelu -> swiglu" for every parameter whose value
// differs between the configs, in the space's order; a missing value shows as
// "(unset)". "" when nothing differs.
std::string DescribeChanges(const SearchSpace& space, const nlohmann::json& before,
                            const nlohmann::json& after);

std::unique_ptr<Proposer> MakeRandomProposer(const Spec& spec);
std::unique_ptr<Proposer> MakeLocalProposer(const Spec& spec);
std::unique_ptr<Proposer> MakeEvolutionProposer(const Spec& spec);  // proposer_evolution.cc
std::unique_ptr<Proposer> MakeTpeProposer(const Spec& spec);        // proposer_tpe.cc
std::unique_ptr<Proposer> MakeAdditiveProposer(const Spec& spec);   // proposer_additive.cc

}  // namespace ratchet

// Building blocks shared by the search strategies (local, evolution, tpe):
// a step in a parameter's own scale, the run's measured configurations as
// losses, and the plateau counter that widens steps when nothing is accepted.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "ratchet/propose/proposer.h"
#include "ratchet/spec/search_space.h"

namespace ratchet {

// A legal value near `old`: a float moved by a normal step of `step` × range
// (× log-range, multiplicatively, on log scales), an int by at least ±1, a
// choice switched to another value, a bool flipped. A fresh sample when `old`
// is missing or not a legal value. REQUIRES: 0 < step.
nlohmann::json PerturbValue(const SearchSpace& space, const Param& param, const nlohmann::json* old,
                            double step, std::mt19937_64& rng);

// True if `param` can take a value other than `value` (a one-value choice
// already at that value cannot).
bool CanChange(const Param& param, const nlohmann::json* value);

// Puts every parameter that is inactive under `config` back to its value in
// `current` (a later change may have switched off one set earlier).
void RestoreInactive(const SearchSpace& space, const nlohmann::json& current,
                     nlohmann::json& config);

// One measured configuration. loss is the metric oriented so that lower is
// better (the metric when minimizing, its negation when maximizing).
struct Observation {
  int64_t seq = 0;
  nlohmann::json params;  // the full config it ran with
  double loss = 0;        // valid unless failed
  bool failed = false;    // crashed or timed out: a configuration to avoid
  bool prior = false;     // from an earlier run (warm start)
};

// The configurations of ctx.prior (when include_prior) then ctx.history that
// were measured (accepted, rejected with a metric) or failed (crashed,
// timeout), oldest first. Invalid, duplicate and interrupted experiments say
// nothing about their config and are left out. The baseline (recorded
// without params) gets `baseline_params` (the worktree's config) while no
// later experiment was accepted, and is left out afterwards.
std::vector<Observation> Observations(const ProposalContext& ctx, bool include_prior,
                                      const nlohmann::json& baseline_params);

// True if the search-space parameters of `a` and `b` are equal.
bool SameSearchPoint(const SearchSpace& space, const nlohmann::json& a, const nlohmann::json& b);

// True if `config` is, as a search point, one of `observed` (proposing it
// again would only be recorded as a duplicate).
bool Measured(const SearchSpace& space, const std::vector<Observation>& observed,
              const nlohmann::json& config);

// Experiments since the last accepted one (the baseline counts as accepted,
// and so does a carried one, HistoryEntry::carried); duplicates and
// interrupted experiments cost nothing and are not counted.
int64_t ExperimentsSinceAccepted(const std::vector<HistoryEntry>& history);

// Plateau handling: after every `plateau` experiments without an accepted
// change the step doubles (capped at 1, the whole range). `level` is how many
// plateaus have passed; `note` is set on the experiment where a new level
// starts, so the log says when and why the step widened.
struct PlateauState {
  int level = 0;
  double step = 0;
  std::string note;  // "" unless this experiment starts a new plateau level
};
PlateauState Plateau(const std::string& kind, const std::vector<HistoryEntry>& history, int plateau,
                     double base_step);

}  // namespace ratchet

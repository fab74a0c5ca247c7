// What `ratchet serve`'s pages show, as JSON built from a store opened
// read-only (report_data.h) and the measurements' logs: the runs of a
// workspace, one run (experiments, the in-flight one with its growing loss
// curve, the parameters' effects), one experiment (diff, measurements, loss
// curve, log tails, prompt and reply), and runs side by side.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "ratchet/report/report_data.h"

namespace ratchet {

// Every run of the workspace's store, newest activity first.
nlohmann::json RunsView(const std::filesystem::path& workspace);

// One run: {run, experiments: [...], inflight: {...} | null, effects: [...]}.
nlohmann::json RunView(const RunData& data);

// One experiment; throws Error naming the run when it has no experiment `seq`.
nlohmann::json ExperimentView(const RunData& data, int64_t seq);

// Runs side by side: per run its summary, best config and progress points,
// and for each pair whether their metrics may be compared (compare.h).
nlohmann::json CompareView(const std::vector<RunData>& runs);

// How each search-space parameter went with the metric over the measured
// experiments: numbers by Spearman's rank correlation, choices by the mean
// metric of each value and the share of the metric's variance between the
// values (eta squared). Sorted by that strength, strongest first.
nlohmann::json ParameterEffects(const RunData& data);

}  // namespace ratchet

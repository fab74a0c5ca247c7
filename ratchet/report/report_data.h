// A run as reports, compare, export and watch read it: the run row, its
// hardware, every experiment with its measurements, and its events, loaded
// once from a store opened read-only (so it works while the run goes on).
//
// A run is named on the command line by a "source":
//   DIR          a workspace (its .ratchet/store.db), most recently active run
//   DIR:TAG      the run TAG of that workspace
//   FILE.db      a store file copied from another machine
//   FILE.db:TAG  the run TAG of that store file
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ratchet/store/store.h"

namespace ratchet {

struct RunData {
  RunRow run;
  std::optional<HardwareRow> hardware;
  std::vector<ExperimentRow> experiments;                 // by seq
  std::vector<std::vector<MeasurementRow>> measurements;  // parallel to experiments
  std::vector<std::optional<ExchangeRow>> exchanges;      // parallel: agent/LLM prompt and reply
  std::vector<EventRow> events;                           // oldest first
  // Where the run's git history can be read (empty: nowhere, e.g. a store
  // file from another machine); used for the configs of the baseline and best.
  std::filesystem::path workspace;
  std::string source;  // how the user named it, for messages and headings
};

struct RunSource {
  std::filesystem::path store_path;
  std::filesystem::path workspace;  // empty for a bare store file
  std::string tag;                  // empty: the most recently active run
};

// Splits "DIR", "DIR:TAG", "FILE.db", "FILE.db:TAG". A trailing ":TAG" is
// taken only when the whole text is not itself an existing path.
RunSource ParseRunSource(const std::string& text);

// Opens a workspace's store read-only. Throws naming `workspace` if it has none.
Store OpenWorkspaceStore(const std::filesystem::path& workspace);

// The run tagged `tag`, or (tag empty) the most recently updated run. Throws
// naming `where` if there is none.
RunRow SelectRun(const Store& store, const std::string& tag, const std::string& where);

RunData LoadRunData(const Store& store, const RunRow& run);
// ParseRunSource + open + SelectRun + LoadRunData.
RunData LoadRunSource(const std::string& text);
// The same for `ratchet report/export --workspace DIR [--tag T]`.
RunData LoadWorkspaceRun(const std::filesystem::path& workspace, const std::string& tag);

// --- Numbers derived from a run ---

struct RunTotals {
  int64_t experiments = 0;  // seq > 0 that ran: what --max-experiments counts
  std::map<std::string, int64_t> by_status;  // of those
  int64_t duplicates = 0;  // proposals of a config already measured: skipped, free
  double wall_seconds = 0;   // first experiment start to last experiment end
  double train_seconds = 0;  // sum over every measurement
  double eval_seconds = 0;
  double overhead_seconds = 0;  // wall - train - eval (proposing, git, deciding, idle)
  double experiments_per_hour = 0;
};
RunTotals ComputeTotals(const RunData& data);
// "2 accepted, 18 rejected; 2 duplicate proposals skipped" ("" for none).
std::string StatusTally(const RunTotals& totals);

// One accepted experiment (seq > 0) and its improvement over the best it
// replaced. `improvement` is positive when better for the run's goal.
struct AcceptedChange {
  int64_t seq = 0;
  std::string description;
  std::string commit;
  double metric = 0;
  std::optional<double> spread;
  double previous = 0;  // the best metric before it
  double improvement = 0;
  double improvement_percent = 0;
  std::optional<double> effect_sd;  // improvement / the run's noise sd
  std::optional<double> t;          // from the acceptance decision, if recorded
};
std::vector<AcceptedChange> AcceptedChanges(const RunData& data);

// The best accepted experiment (the baseline counts), like Store::BestAccepted.
const ExperimentRow* BestExperiment(const RunData& data);
bool Better(const RunRow& run, double a, double b);  // a better than b for the goal

// The config file the search space applies to (spec proposer.config), when it
// is JSON. Best: read from git at the best commit, else the best experiment's
// params. Baseline: read from git at the baseline commit (nullopt if git is
// not available for this run).
std::optional<nlohmann::json> BestConfig(const RunData& data);
std::optional<nlohmann::json> BaselineConfig(const RunData& data);

// {"a": {"b": 1}} → {"a.b": 1}; arrays are leaves.
std::map<std::string, nlohmann::json> FlattenJson(const nlohmann::json& value);

// Small formatting helpers shared by the renderers.
std::string FormatMetric(const std::optional<double>& value);  // "-" when absent
std::string FormatDuration(double seconds);                    // "1 h 02 min", "12.3 s"
std::string FormatClock(double unix_seconds);                  // local "YYYY-MM-DD HH:MM:SS"
std::string SingleLine(std::string text);                      // tabs and newlines → spaces

// An optional column as JSON: its value, or null.
template <typename T>
nlohmann::json JsonOrNull(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace ratchet

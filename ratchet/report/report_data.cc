#include "ratchet/report/report_data.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "base/error.h"
#include "ratchet/loop/loop.h"
#include "ratchet/git/workspace.h"

namespace ratchet {
namespace fs = std::filesystem;
using nlohmann::json;

RunSource ParseRunSource(const std::string& text) {
  fs::path path = text;
  std::string tag;
  if (!fs::exists(path)) {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      throw Error(text + ": no such workspace or store file");
    }
    path = text.substr(0, colon);
    tag = text.substr(colon + 1);
    if (!fs::exists(path)) throw Error(path.string() + ": no such workspace or store file");
  }
  RunSource source;
  source.tag = tag;
  if (fs::is_directory(path)) {
    source.workspace = path;
    source.store_path = StorePath(path);
    if (!fs::exists(source.store_path)) {
      throw Error(path.string() + ": not a ratchet workspace (no " + source.store_path.string() +
                  ")");
    }
  } else {
    source.store_path = path;
  }
  return source;
}

Store OpenWorkspaceStore(const fs::path& workspace) {
  fs::path path = StorePath(workspace);
  if (!fs::exists(path)) {
    throw Error(workspace.string() + ": not a ratchet workspace (no " + path.string() + ")");
  }
  return Store::OpenReadOnly(path);
}

RunRow SelectRun(const Store& store, const std::string& tag, const std::string& where) {
  if (!tag.empty()) {
    if (auto run = store.FindRun(tag)) return *run;
    throw Error(where + ": no run tagged '" + tag + "'");
  }
  std::vector<RunRow> runs = store.ListRuns();
  if (runs.empty()) throw Error(where + ": no runs yet");
  return *std::max_element(runs.begin(), runs.end(), [](const RunRow& a, const RunRow& b) {
    return a.updated_at < b.updated_at;
  });
}

RunData LoadRunData(const Store& store, const RunRow& run) {
  RunData data;
  data.run = run;
  if (run.hardware_id) data.hardware = store.GetHardware(*run.hardware_id);
  data.experiments = store.ListExperiments(run.id);
  for (const ExperimentRow& e : data.experiments) {
    data.measurements.push_back(store.ListMeasurements(e.id));
    data.exchanges.push_back(store.GetExchange(e.id));
  }
  data.events = store.Events(run.id);
  return data;
}

RunData LoadRunSource(const std::string& text) {
  RunSource source = ParseRunSource(text);
  Store store = Store::OpenReadOnly(source.store_path);
  RunData data = LoadRunData(store, SelectRun(store, source.tag, text));
  // A workspace's git holds the run's commits only if the run was made there.
  if (!source.workspace.empty()) data.workspace = source.workspace;
  data.source = text;
  return data;
}

RunData LoadWorkspaceRun(const fs::path& workspace, const std::string& tag) {
  Store store = OpenWorkspaceStore(workspace);
  RunData data = LoadRunData(store, SelectRun(store, tag, workspace.string()));
  data.workspace = workspace;
  data.source = tag.empty() ? workspace.string() : workspace.string() + ":" + tag;
  return data;
}

RunTotals ComputeTotals(const RunData& data) {
  RunTotals totals;
  double first = 0, last = 0;
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    const ExperimentRow& e = data.experiments[i];
    if (e.seq > 0 && e.status == ExperimentStatus::kDuplicate) {
      ++totals.duplicates;
    } else if (e.seq > 0) {
      ++totals.experiments;
      ++totals.by_status[std::string(ToString(e.status))];
    }
    if (first == 0 || e.started_at < first) first = e.started_at;
    last = std::max(last, e.ended_at.value_or(e.started_at));
    for (const MeasurementRow& m : data.measurements[i]) {
      totals.train_seconds += m.train_seconds.value_or(0);
      totals.eval_seconds += m.eval_seconds.value_or(0);
    }
  }
  totals.wall_seconds = std::max(0.0, last - first);
  totals.overhead_seconds =
      std::max(0.0, totals.wall_seconds - totals.train_seconds - totals.eval_seconds);
  if (totals.wall_seconds > 0) {
    totals.experiments_per_hour = totals.experiments * 3600.0 / totals.wall_seconds;
  }
  return totals;
}

std::string StatusTally(const RunTotals& totals) {
  std::string tally;
  for (const auto& [status, n] : totals.by_status) {
    tally += fmt::format("{}{} {}", tally.empty() ? "" : ", ", n, status);
  }
  if (totals.duplicates > 0) {
    tally += fmt::format("{}{} duplicate proposal{} skipped", tally.empty() ? "" : "; ",
                         totals.duplicates, totals.duplicates == 1 ? "" : "s");
  }
  return tally;
}

bool Better(const RunRow& run, double a, double b) {
  return run.goal == "maximize" ? a > b : a < b;
}

const ExperimentRow* BestExperiment(const RunData& data) {
  const ExperimentRow* best = nullptr;
  for (const ExperimentRow& e : data.experiments) {
    if (e.status != ExperimentStatus::kAccepted || !e.metric) continue;
    if (!best || Better(data.run, *e.metric, *best->metric)) best = &e;
  }
  return best;
}

std::vector<AcceptedChange> AcceptedChanges(const RunData& data) {
  std::vector<AcceptedChange> changes;
  std::optional<double> best = data.run.baseline_metric;
  for (const ExperimentRow& e : data.experiments) {
    if (e.status != ExperimentStatus::kAccepted || !e.metric) continue;
    if (e.seq == 0) {
      if (!best) best = e.metric;
      continue;
    }
    AcceptedChange change;
    change.seq = e.seq;
    change.description = e.description;
    change.commit = e.commit.value_or("");
    change.metric = *e.metric;
    change.spread = e.spread;
    change.previous = best.value_or(*e.metric);
    change.improvement = data.run.goal == "maximize" ? change.metric - change.previous
                                                     : change.previous - change.metric;
    if (change.previous != 0) {
      change.improvement_percent = 100.0 * change.improvement / std::fabs(change.previous);
    }
    if (data.run.noise_sd && *data.run.noise_sd > 0) {
      change.effect_sd = change.improvement / *data.run.noise_sd;
    }
    if (e.decision_json) {
      json decision = json::parse(*e.decision_json, nullptr, false);
      if (decision.is_object() && decision.contains("t") && decision["t"].is_number()) {
        change.t = decision["t"].get<double>();
      }
    }
    changes.push_back(change);
    best = change.metric;
  }
  return changes;
}

namespace {

// proposer.config of the run's spec when it names a JSON file, else "".
std::string ConfigPath(const RunData& data) {
  json spec = json::parse(data.run.spec_json, nullptr, false);
  if (!spec.is_object() || !spec.contains("proposer") || !spec["proposer"].is_object()) return "";
  const json& proposer = spec["proposer"];
  if (!proposer.contains("config") || !proposer["config"].is_string()) return "";
  std::string path = proposer["config"].get<std::string>();
  if (path.size() < 5 || path.substr(path.size() - 5) != ".json") return "";
  return path;
}

std::optional<json> ConfigAt(const RunData& data, const std::string& commit) {
  std::string path = ConfigPath(data);
  if (path.empty() || commit.empty()) return std::nullopt;
  for (const fs::path& dir : {data.workspace, fs::path(data.run.workspace)}) {
    if (dir.empty() || !fs::exists(dir)) continue;
    try {
      Workspace workspace = Workspace::Open(dir);
      json config = json::parse(workspace.ReadFileAt(commit, path), nullptr, false);
      if (!config.is_discarded()) return config;
    } catch (const Error&) {
      // Not this run's repository (e.g. an imported run): try the next one.
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<json> BestConfig(const RunData& data) {
  if (ConfigPath(data).empty()) return std::nullopt;
  const ExperimentRow* best = BestExperiment(data);
  if (!best) return std::nullopt;
  if (auto config = ConfigAt(data, best->commit.value_or(""))) return config;
  json params = json::parse(best->params_json, nullptr, false);
  if (params.is_object() && !params.empty()) return params;
  if (best->seq == 0) return BaselineConfig(data);
  return std::nullopt;
}

std::optional<json> BaselineConfig(const RunData& data) {
  return ConfigAt(data, data.run.baseline_commit);
}

std::map<std::string, json> FlattenJson(const json& value) {
  std::map<std::string, json> flat;
  auto walk = [&flat](auto& self, const json& node, const std::string& prefix) -> void {
    if (node.is_object() && !node.empty()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        self(self, it.value(), prefix.empty() ? it.key() : prefix + "." + it.key());
      }
    } else {
      flat[prefix] = node;
    }
  };
  walk(walk, value, "");
  return flat;
}

std::string FormatMetric(const std::optional<double>& value) {
  return value && std::isfinite(*value) ? fmt::format("{:.6g}", *value) : "-";
}

std::string FormatDuration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.1f} min", seconds / 60);
  int64_t minutes = static_cast<int64_t>(std::llround(seconds / 60));
  return fmt::format("{} h {:02d} min", minutes / 60, minutes % 60);
}

std::string FormatClock(double unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  std::tm local{};
  localtime_r(&t, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

std::string SingleLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace ratchet

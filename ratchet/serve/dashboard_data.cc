#include "ratchet/serve/dashboard_data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/git/workspace.h"
#include "ratchet/report/compare.h"
#include "ratchet/report/loss_chart.h"
#include "ratchet/runner/runner.h"

namespace ratchet {
namespace {

using nlohmann::json;

json RunSummary(const RunData& data) {
  const RunRow& r = data.run;
  const ExperimentRow* best = BestExperiment(data);
  RunTotals totals = ComputeTotals(data);
  return {{"tag", r.tag},
          {"spec", r.spec_name},
          {"state", ToString(r.state)},
          {"metric", r.metric_name},
          {"goal", r.goal},
          {"budget_kind", r.budget_kind},
          {"budget", r.budget_amount},
          {"baseline", JsonOrNull(r.baseline_metric)},
          {"noise_sd", JsonOrNull(r.noise_sd)},
          {"best", best ? JsonOrNull(best->metric) : json(nullptr)},
          {"best_seq", best ? json(best->seq) : json(nullptr)},
          {"experiments", totals.experiments},
          {"accepted", totals.by_status.count("accepted") ? totals.by_status.at("accepted") : 0},
          {"experiments_per_hour", totals.experiments_per_hour},
          {"hardware", data.hardware ? json(data.hardware->info.cpu_model) : json(nullptr)},
          {"started_at", r.started_at},
          {"updated_at", r.updated_at},
          {"ended_at", JsonOrNull(r.ended_at)}};
}

// [[x, loss], ...] with x tokens when every point has them, else steps.
json CurveJson(const std::vector<TrainingPoint>& points) {
  const bool by_tokens = std::all_of(points.begin(), points.end(),
                                     [](const TrainingPoint& p) { return p.tokens.has_value(); });
  json xy = json::array();
  for (size_t i = 0; i < points.size(); ++i) {
    const TrainingPoint& p = points[i];
    double x = by_tokens ? static_cast<double>(*p.tokens)
                         : static_cast<double>(p.step.value_or(static_cast<int64_t>(i + 1)));
    xy.push_back({x, p.loss});
  }
  return {{"x", by_tokens ? "tokens" : "steps"}, {"points", xy}};
}

// Flattened search-space values of each experiment (the baseline's from git).
std::vector<std::map<std::string, json>> ExperimentParams(const RunData& data) {
  std::vector<std::map<std::string, json>> params;
  for (const ExperimentRow& e : data.experiments) {
    json parsed = json::parse(e.params_json, nullptr, false);
    if (e.seq == 0 && (!parsed.is_object() || parsed.empty())) {
      parsed = BaselineConfig(data).value_or(json::object());
    }
    params.push_back(parsed.is_object() ? FlattenJson(parsed) : std::map<std::string, json>{});
  }
  return params;
}

json SearchSpace(const RunData& data) {
  json spec = json::parse(data.run.spec_json, nullptr, false);
  if (!spec.is_object() || !spec.contains("search_space") || !spec["search_space"].is_object()) {
    return json::object();
  }
  return spec["search_space"];
}

std::vector<double> Ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = (i + j) / 2.0;  // ties share their mean rank
    i = j + 1;
  }
  return ranks;
}

std::optional<double> Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0 || sbb <= 0) return std::nullopt;
  return sab / std::sqrt(saa * sbb);
}

// ParameterEffects on params already read (the baseline's from git).
json Effects(const RunData& data, const std::vector<std::map<std::string, json>>& params) {
  const json space = SearchSpace(data);
  // Only experiments whose metric measures their config.
  std::vector<size_t> measured;
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    const ExperimentRow& e = data.experiments[i];
    bool decided =
        e.status == ExperimentStatus::kAccepted || e.status == ExperimentStatus::kRejected;
    if (decided && e.metric && std::isfinite(*e.metric)) measured.push_back(i);
  }
  json effects = json::array();
  for (const auto& [name, definition] : space.items()) {
    std::vector<json> values;
    std::vector<double> metrics;
    for (size_t i : measured) {
      auto it = params[i].find(name);
      if (it == params[i].end()) continue;
      values.push_back(it->second);
      metrics.push_back(*data.experiments[i].metric);
    }
    if (values.size() < 3) continue;
    const std::string type = definition.value("type", "");
    json effect = {{"param", name}, {"type", type}, {"n", values.size()}};
    if ((type == "float" || type == "int") &&
        std::all_of(values.begin(), values.end(), [](const json& v) { return v.is_number(); })) {
      std::vector<double> x;
      for (const json& v : values) x.push_back(v.get<double>());
      std::optional<double> rho = Correlation(Ranks(x), Ranks(metrics));
      if (!rho) continue;
      effect["kind"] = "correlation";
      effect["rho"] = *rho;
      effect["strength"] = std::fabs(*rho);
    } else {
      std::map<std::string, std::vector<double>> groups;
      for (size_t k = 0; k < values.size(); ++k) {
        groups[values[k].is_string() ? values[k].get<std::string>() : values[k].dump()].push_back(
            metrics[k]);
      }
      if (groups.size() < 2) continue;
      const double mean = std::accumulate(metrics.begin(), metrics.end(), 0.0) / metrics.size();
      double total = 0, between = 0;
      for (double m : metrics) total += (m - mean) * (m - mean);
      json by_value = json::array();
      for (const auto& [value, group] : groups) {
        double group_mean = std::accumulate(group.begin(), group.end(), 0.0) / group.size();
        between += group.size() * (group_mean - mean) * (group_mean - mean);
        by_value.push_back({{"value", value}, {"mean", group_mean}, {"n", group.size()}});
      }
      if (total <= 0) continue;
      effect["kind"] = "groups";
      effect["values"] = by_value;
      effect["strength"] = between / total;
    }
    effects.push_back(effect);
  }
  std::sort(effects.begin(), effects.end(), [](const json& a, const json& b) {
    return a["strength"].get<double>() > b["strength"].get<double>();
  });
  return effects;
}

}  // namespace

json RunsView(const std::filesystem::path& workspace) {
  Store store = OpenWorkspaceStore(workspace);
  std::vector<RunRow> runs = store.ListRuns();
  std::sort(runs.begin(), runs.end(),
            [](const RunRow& a, const RunRow& b) { return a.updated_at > b.updated_at; });
  json list = json::array();
  for (const RunRow& run : runs) {
    RunData data = LoadRunData(store, run);
    data.workspace = workspace;
    list.push_back(RunSummary(data));
  }
  return list;
}

json RunView(const RunData& data) {
  json view = {{"run", RunSummary(data)}};
  json experiments = json::array();
  json inflight = nullptr;
  // Each experiment's params where they differ from the baseline's: the
  // table's "params" column, readable however large the config.
  std::vector<std::map<std::string, json>> params = ExperimentParams(data);
  const std::map<std::string, json> baseline =
      params.empty() ? std::map<std::string, json>{} : params.front();
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    const ExperimentRow& e = data.experiments[i];
    json changed = json::object();
    for (const auto& [key, value] : params[i]) {
      auto it = baseline.find(key);
      if (it == baseline.end() || it->second != value) changed[key] = value;
    }
    experiments.push_back({{"seq", e.seq},
                           {"status", ToString(e.status)},
                           {"phase", e.phase},
                           {"metric", JsonOrNull(e.metric)},
                           {"spread", JsonOrNull(e.spread)},
                           {"n", e.n_measurements},
                           {"description", e.description},
                           {"reason", JsonOrNull(e.reason)},
                           {"proposer", e.proposer},
                           {"changed", changed},
                           {"started_at", e.started_at},
                           {"ended_at", JsonOrNull(e.ended_at)},
                           {"train_seconds", JsonOrNull(e.train_seconds)},
                           {"tokens", JsonOrNull(e.tokens)}});
    if (IsUnfinished(e.status) && data.run.state == RunState::kRunning) {
      inflight = {{"seq", e.seq},
                  {"status", ToString(e.status)},
                  {"phase", e.phase},
                  {"description", e.description},
                  {"started_at", e.started_at},
                  {"elapsed", NowSeconds() - e.started_at},
                  {"curve", CurveJson(ExperimentCurve(data, i))}};
    }
  }
  view["experiments"] = experiments;
  view["inflight"] = inflight;
  view["effects"] = Effects(data, params);
  return view;
}

json ExperimentView(const RunData& data, int64_t seq) {
  size_t index = data.experiments.size();
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    if (data.experiments[i].seq == seq) index = i;
  }
  if (index == data.experiments.size()) {
    throw Error("run '" + data.run.tag + "' has no experiment " + std::to_string(seq));
  }
  const ExperimentRow& e = data.experiments[index];
  json view = {{"seq", e.seq},
               {"status", ToString(e.status)},
               {"phase", e.phase},
               {"description", e.description},
               {"proposer", e.proposer},
               {"metric", JsonOrNull(e.metric)},
               {"spread", JsonOrNull(e.spread)},
               {"n", e.n_measurements},
               {"reason", JsonOrNull(e.reason)},
               {"decision", json::parse(e.decision_json.value_or("null"), nullptr, false)},
               {"commit", JsonOrNull(e.commit)},
               {"parent", e.parent_commit},
               {"params", json::parse(e.params_json, nullptr, false)},
               {"started_at", e.started_at},
               {"ended_at", JsonOrNull(e.ended_at)}};
  json measurements = json::array();
  for (const MeasurementRow& m : data.measurements[index]) {
    measurements.push_back({{"repeat", m.repeat},
                            {"role", ToString(m.role)},
                            {"seed", m.seed},
                            {"status", ToString(m.status)},
                            {"metric", JsonOrNull(m.metric)},
                            {"train_seconds", JsonOrNull(m.train_seconds)},
                            {"eval_seconds", JsonOrNull(m.eval_seconds)},
                            {"tokens", JsonOrNull(m.tokens)}});
  }
  view["measurements"] = measurements;
  // One training curve per measurement (seeds side by side), the running one too.
  json curves = json::array();
  if (!data.workspace.empty()) {
    int64_t count = static_cast<int64_t>(data.measurements[index].size());
    if (IsUnfinished(e.status)) ++count;
    for (int64_t repeat = 0; repeat < count; ++repeat) {
      std::vector<TrainingPoint> points =
          ReadTrainingCurve(MeasurementDir(data, e.seq, repeat) / "train.out", 400);
      if (!points.empty()) curves.push_back({{"repeat", repeat}, {"curve", CurveJson(points)}});
    }
  }
  view["curves"] = curves;
  // The newest measurement's logs: the one a failure is explained by.
  json logs = json::object();
  if (!data.workspace.empty()) {
    int64_t repeat = static_cast<int64_t>(data.measurements[index].size());
    if (!IsUnfinished(e.status) && repeat > 0) --repeat;
    std::filesystem::path dir = MeasurementDir(data, e.seq, repeat);
    for (const char* name : {"train.out", "train.err", "eval.out", "eval.err"}) {
      std::string tail = ReadLogTail(dir / name, 4000);
      if (!tail.empty()) logs[name] = tail;
    }
  }
  view["logs"] = logs;
  view["diff"] = nullptr;
  if (e.commit && e.seq > 0 && !data.workspace.empty()) {
    try {
      view["diff"] = Workspace::Open(data.workspace).Patch(e.parent_commit, *e.commit);
    } catch (const Error& error) {
      view["diff"] = std::string("(no diff: ") + error.what() + ")";
    }
  }
  if (data.exchanges[index]) {
    view["prompt"] = data.exchanges[index]->prompt;
    view["reply"] = data.exchanges[index]->reply;
  }
  return view;
}

json CompareView(const std::vector<RunData>& runs) {
  json view = {{"runs", json::array()}, {"not_comparable", json::array()}};
  for (const RunData& data : runs) {
    json points = json::array();
    for (const ExperimentRow& e : data.experiments) {
      points.push_back({{"seq", e.seq},
                        {"metric", JsonOrNull(e.metric)},
                        {"status", ToString(e.status)},
                        {"description", e.description}});
    }
    json run = RunSummary(data);
    run["best_config"] = BestConfig(data).value_or(json(nullptr));
    run["points"] = points;
    view["runs"].push_back(run);
  }
  for (size_t a = 0; a < runs.size(); ++a) {
    for (size_t b = a + 1; b < runs.size(); ++b) {
      std::string why = WhyNotComparable(runs[a].run, runs[b].run);
      if (!why.empty()) {
        view["not_comparable"].push_back(
            {{"a", runs[a].run.tag}, {"b", runs[b].run.tag}, {"why", why}});
      }
    }
  }
  return view;
}

json ParameterEffects(const RunData& data) { return Effects(data, ExperimentParams(data)); }

}  // namespace ratchet

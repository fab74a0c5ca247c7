#include "ratchet/cli/cli.h"

#include <signal.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/git/workspace.h"
#include "ratchet/report/report_data.h"
#include "ratchet/runner/runner.h"
#include "ratchet/store/store.h"

namespace ratchet {
namespace {

using nlohmann::json;

Store OpenStore(const std::filesystem::path& workspace) {
  std::filesystem::path path = StorePath(workspace);
  if (!std::filesystem::exists(path)) {
    throw Error(workspace.string() + ": not a ratchet workspace (no " + path.string() + ")");
  }
  return Store::OpenReadOnly(path);
}

RunRow SelectRun(const Store& store, const ReadOptions& options) {
  if (!options.tag.empty()) {
    if (auto run = store.FindRun(options.tag)) return *run;
    throw Error(options.workspace.string() + ": no run tagged '" + options.tag + "'");
  }
  std::vector<RunRow> runs = store.ListRuns();
  if (runs.empty()) throw Error(options.workspace.string() + ": no runs yet");
  return *std::max_element(runs.begin(), runs.end(), [](const RunRow& a, const RunRow& b) {
    return a.updated_at < b.updated_at;
  });
}

std::string Short(const std::optional<std::string>& commit) {
  return commit ? commit->substr(0, 10) : "-";
}

std::string Metric(const std::optional<double>& value) {
  return value ? fmt::format("{:.6g}", *value) : "-";
}

// The controller holding the workspace lock, if it is alive.
std::optional<long> ControllerPid(const std::filesystem::path& workspace) {
  std::filesystem::path lock = RatchetDir(workspace) / "lock";
  if (!std::filesystem::exists(lock)) return std::nullopt;
  std::string text = ReadFile(lock);
  long pid = std::atol(text.c_str());
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return std::nullopt;
  return pid;
}

json ExperimentJson(const ExperimentRow& e) {
  json row = {{"seq", e.seq},
              {"status", ToString(e.status)},
              {"metric", e.metric ? json(*e.metric) : json(nullptr)},
              {"spread", e.spread ? json(*e.spread) : json(nullptr)},
              {"measurements", e.n_measurements},
              {"commit", e.commit ? json(*e.commit) : json(nullptr)},
              {"parent", e.parent_commit},
              {"description", e.description},
              {"reason", e.reason ? json(*e.reason) : json(nullptr)},
              {"proposer", e.proposer},
              {"started_at", e.started_at},
              {"ended_at", e.ended_at ? json(*e.ended_at) : json(nullptr)},
              {"train_seconds", e.train_seconds ? json(*e.train_seconds) : json(nullptr)},
              {"tokens", e.tokens ? json(*e.tokens) : json(nullptr)},
              {"peak_rss_kb", e.peak_rss_kb ? json(*e.peak_rss_kb) : json(nullptr)}};
  row["params"] = json::parse(e.params_json, nullptr, false);
  return row;
}

std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  return text;
}

}  // namespace

void CommandStatus(const ReadOptions& options, std::ostream& out) {
  Store store = OpenStore(options.workspace);
  RunRow run = SelectRun(store, options);
  std::vector<ExperimentRow> experiments = store.ListExperiments(run.id);
  std::optional<long> pid = ControllerPid(options.workspace);
  bool running = pid && run.state == RunState::kRunning;
  out << fmt::format("run {}: {} ({}), {} budget {:g}, started {}\n", run.tag,
                     running ? "running" : "stopped",
                     running ? "pid " + std::to_string(*pid) : "no controller", run.budget_kind,
                     run.budget_amount, FormatClock(run.started_at));
  std::map<std::string, int> counts;
  for (const ExperimentRow& e : experiments) {
    if (e.seq > 0) ++counts[std::string(ToString(e.status))];
  }
  std::string tally;
  for (const auto& [status, n] : counts)
    tally += fmt::format("{}{} {}", tally.empty() ? "" : ", ", n, status);
  out << fmt::format("experiments: {}{}\n", experiments.empty() ? 0 : experiments.size() - 1,
                     tally.empty() ? "" : " (" + tally + ")");
  for (const ExperimentRow& e : experiments) {
    if (!IsUnfinished(e.status)) continue;
    out << fmt::format("current: [{}] {} {}, {:.1f} s elapsed{}\n", e.seq,
                       running ? "" : "(stale) ", e.phase.empty() ? ToString(e.status) : e.phase,
                       NowSeconds() - e.started_at,
                       e.description.empty() ? "" : ": " + e.description);
  }
  if (auto best = store.BestAccepted(run.id)) {
    out << fmt::format("best: [{}] {} {} (baseline {}), commit {} {}\n", best->seq, run.metric_name,
                       Metric(best->metric), Metric(run.baseline_metric), Short(best->commit),
                       best->description);
  }
}

void CommandLog(const ReadOptions& options, std::ostream& out) {
  Store store = OpenStore(options.workspace);
  RunRow run = SelectRun(store, options);
  std::vector<ExperimentRow> experiments = store.ListExperiments(run.id);
  if (options.format == "json") {
    json rows = json::array();
    for (const ExperimentRow& e : experiments) rows.push_back(ExperimentJson(e));
    out << rows.dump(2) << "\n";
  } else if (options.format == "tsv") {
    out << "seq\tstatus\t" << run.metric_name << "\tcommit\tdescription\treason\n";
    for (const ExperimentRow& e : experiments) {
      out << e.seq << '\t' << ToString(e.status) << '\t' << (e.metric ? Metric(e.metric) : "")
          << '\t' << e.commit.value_or("") << '\t' << OneLine(e.description) << '\t'
          << OneLine(e.reason.value_or("")) << '\n';
    }
  } else if (options.format == "table") {
    out << fmt::format("{:>5}  {:<11}  {:>12}  {:<10}  {}\n", "seq", "status", run.metric_name,
                       "commit", "description");
    for (const ExperimentRow& e : experiments) {
      std::string note = e.reason && e.status != ExperimentStatus::kAccepted &&
                                 e.status != ExperimentStatus::kRejected
                             ? "  (" + OneLine(*e.reason) + ")"
                             : "";
      out << fmt::format("{:>5}  {:<11}  {:>12}  {:<10}  {}{}\n", e.seq, ToString(e.status),
                         Metric(e.metric), Short(e.commit), OneLine(e.description), note);
    }
  } else {
    throw Error("--format " + options.format + ": expected table, json or tsv");
  }
}

void CommandShow(const ReadOptions& options, int64_t seq, std::ostream& out) {
  Store store = OpenStore(options.workspace);
  RunRow run = SelectRun(store, options);
  std::optional<ExperimentRow> e = store.GetExperiment(run.id, seq);
  if (!e)
    throw Error(options.workspace.string() + ": run '" + run.tag + "' has no experiment " +
                std::to_string(seq));
  out << fmt::format("experiment {} of run {}: {}\n", e->seq, run.tag, ToString(e->status));
  out << fmt::format("description: {}\n", e->description.empty() ? "-" : e->description);
  out << fmt::format("proposer: {}  commit: {}  parent: {}\n", e->proposer, e->commit.value_or("-"),
                     e->parent_commit);
  out << fmt::format("{}: {} (spread {}, {} measurements)\n", run.metric_name, Metric(e->metric),
                     Metric(e->spread), e->n_measurements);
  if (e->reason) out << "decision: " << *e->reason << "\n";
  if (e->decision_json) out << "numbers: " << *e->decision_json << "\n";
  std::vector<MeasurementRow> measurements = store.ListMeasurements(e->id);
  if (!measurements.empty()) {
    out << "measurements:\n";
    for (const MeasurementRow& m : measurements) {
      // Where it ran: the host or node, and its Slurm jobs if any.
      std::string where = m.host ? "  on " + *m.host : "";
      if (m.job_id) where += " (job " + *m.job_id + ")";
      out << fmt::format("  {:<11} seed {:<10} {:<11} {:>12}  train {:.2f} s  eval {:.2f} s{}\n",
                         ToString(m.role), m.seed, ToString(m.status), Metric(m.metric),
                         m.train_seconds.value_or(0), m.eval_seconds.value_or(0), where);
    }
  }
  if (std::optional<ExchangeRow> exchange = store.GetExchange(e->id)) {
    for (const auto& [title, text] :
         {std::pair{"prompt", &exchange->prompt}, std::pair{"reply", &exchange->reply}}) {
      if (text->empty()) continue;
      out << "--- " << title << " ---\n" << *text << (text->back() == '\n' ? "" : "\n");
    }
  }
  if (e->commit && e->seq > 0) {
    Workspace workspace = Workspace::Open(options.workspace);
    out << "diff:\n" << workspace.Patch(e->parent_commit, *e->commit);
  }
  std::filesystem::path logs = RatchetDir(options.workspace) / "runs" / run.tag;
  if (!measurements.empty()) {
    std::string dir = std::to_string(e->seq) + "." + std::to_string(measurements.size() - 1);
    for (const char* name : {"train.err", "train.out", "eval.out"}) {
      std::string tail = ReadLogTail(logs / dir / name, 1500);
      if (!tail.empty()) out << "log tail (" << (logs / dir / name).string() << "):\n" << tail;
    }
  }
}

void CommandBest(const ReadOptions& options, std::ostream& out) {
  Store store = OpenStore(options.workspace);
  RunRow run = SelectRun(store, options);
  std::optional<ExperimentRow> best = store.BestAccepted(run.id);
  if (!best) throw Error(options.workspace.string() + ": run '" + run.tag + "' has no result yet");
  if (options.format == "json") {
    json row = ExperimentJson(*best);
    row["tag"] = run.tag;
    row["metric_name"] = run.metric_name;
    row["goal"] = run.goal;
    row["baseline_metric"] = run.baseline_metric ? json(*run.baseline_metric) : json(nullptr);
    row["branch"] = "ratchet/" + run.tag;
    out << row.dump(2) << "\n";
  } else {
    out << fmt::format("best of run {}: experiment {}, {} {} (baseline {})\n", run.tag, best->seq,
                       run.metric_name, Metric(best->metric), Metric(run.baseline_metric));
    out << fmt::format("commit {} on branch ratchet/{}\n", best->commit.value_or("-"), run.tag);
    if (!best->description.empty()) out << "change: " << best->description << "\n";
  }
}

}  // namespace ratchet

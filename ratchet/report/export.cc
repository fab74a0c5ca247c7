#include "ratchet/report/export.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/report/results_tsv.h"

namespace ratchet {
namespace {

using nlohmann::json;

json OptJsonText(const std::optional<std::string>& text) {
  return text ? json::parse(*text, nullptr, false) : json(nullptr);
}

// Reading back: a missing or null key is nullopt.
template <typename T>
std::optional<T> GetOpt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

template <typename T>
T Get(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    throw Error(std::string("export json: missing key '") + key + "'");
  }
  return it->get<T>();
}

std::optional<std::string> GetOptJsonText(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return it->dump();
}

std::string GetJsonText(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) throw Error(std::string("export json: missing key '") + key + "'");
  return it->dump();
}

json RunJson(const RunRow& r) {
  return {{"id", r.id},
          {"uid", r.uid},
          {"tag", r.tag},
          {"spec_name", r.spec_name},
          {"spec", json::parse(r.spec_json, nullptr, false)},
          {"spec_sha256", r.spec_sha256},
          {"workspace", r.workspace},
          {"baseline_commit", r.baseline_commit},
          {"best_commit", JsonOrNull(r.best_commit)},
          {"hardware_id", JsonOrNull(r.hardware_id)},
          {"budget_kind", r.budget_kind},
          {"budget_amount", r.budget_amount},
          {"metric_name", r.metric_name},
          {"goal", r.goal},
          {"pins", json::parse(r.pins_json, nullptr, false)},
          {"pins_digest", r.pins_digest},
          {"noise_sd", JsonOrNull(r.noise_sd)},
          {"baseline_metric", JsonOrNull(r.baseline_metric)},
          {"state", ToString(r.state)},
          {"started_at", r.started_at},
          {"updated_at", r.updated_at},
          {"ended_at", JsonOrNull(r.ended_at)}};
}

RunRow RunFromJson(const json& j) {
  RunRow r;
  r.id = Get<int64_t>(j, "id");
  r.uid = Get<std::string>(j, "uid");
  r.tag = Get<std::string>(j, "tag");
  r.spec_name = Get<std::string>(j, "spec_name");
  r.spec_json = GetJsonText(j, "spec");
  r.spec_sha256 = Get<std::string>(j, "spec_sha256");
  r.workspace = Get<std::string>(j, "workspace");
  r.baseline_commit = Get<std::string>(j, "baseline_commit");
  r.best_commit = GetOpt<std::string>(j, "best_commit");
  r.hardware_id = GetOpt<int64_t>(j, "hardware_id");
  r.budget_kind = Get<std::string>(j, "budget_kind");
  r.budget_amount = Get<double>(j, "budget_amount");
  r.metric_name = Get<std::string>(j, "metric_name");
  r.goal = Get<std::string>(j, "goal");
  r.pins_json = GetJsonText(j, "pins");
  r.pins_digest = Get<std::string>(j, "pins_digest");
  r.noise_sd = GetOpt<double>(j, "noise_sd");
  r.baseline_metric = GetOpt<double>(j, "baseline_metric");
  r.state = RunStateFromString(Get<std::string>(j, "state"));
  r.started_at = Get<double>(j, "started_at");
  r.updated_at = Get<double>(j, "updated_at");
  r.ended_at = GetOpt<double>(j, "ended_at");
  return r;
}

json MeasurementJson(const MeasurementRow& m) {
  return {{"id", m.id},
          {"experiment_id", m.experiment_id},
          {"repeat", m.repeat},
          {"seed", m.seed},
          {"role", ToString(m.role)},
          {"status", ToString(m.status)},
          {"metric", JsonOrNull(m.metric)},
          {"train_seconds", JsonOrNull(m.train_seconds)},
          {"eval_seconds", JsonOrNull(m.eval_seconds)},
          {"tokens", JsonOrNull(m.tokens)},
          {"peak_rss_kb", JsonOrNull(m.peak_rss_kb)},
          {"exit_code", JsonOrNull(m.exit_code)},
          {"term_signal", JsonOrNull(m.term_signal)},
          {"extra", OptJsonText(m.extra_json)},
          {"created_at", m.created_at}};
}

MeasurementRow MeasurementFromJson(const json& j) {
  MeasurementRow m;
  m.id = Get<int64_t>(j, "id");
  m.experiment_id = Get<int64_t>(j, "experiment_id");
  m.repeat = Get<int64_t>(j, "repeat");
  m.seed = Get<int64_t>(j, "seed");
  m.role = MeasurementRoleFromString(Get<std::string>(j, "role"));
  m.status = MeasurementStatusFromString(Get<std::string>(j, "status"));
  m.metric = GetOpt<double>(j, "metric");
  m.train_seconds = GetOpt<double>(j, "train_seconds");
  m.eval_seconds = GetOpt<double>(j, "eval_seconds");
  m.tokens = GetOpt<int64_t>(j, "tokens");
  m.peak_rss_kb = GetOpt<int64_t>(j, "peak_rss_kb");
  m.exit_code = GetOpt<int>(j, "exit_code");
  m.term_signal = GetOpt<int>(j, "term_signal");
  m.extra_json = GetOptJsonText(j, "extra");
  m.created_at = Get<double>(j, "created_at");
  return m;
}

json ExperimentJson(const ExperimentRow& e, const std::vector<MeasurementRow>& measurements,
                    const std::optional<ExchangeRow>& exchange) {
  json row = {{"id", e.id},
              {"run_id", e.run_id},
              {"seq", e.seq},
              {"parent_commit", e.parent_commit},
              {"commit", JsonOrNull(e.commit)},
              {"tree", JsonOrNull(e.tree)},
              {"proposer", e.proposer},
              {"description", e.description},
              {"params", json::parse(e.params_json, nullptr, false)},
              {"diff_stat", JsonOrNull(e.diff_stat)},
              {"status", ToString(e.status)},
              {"phase", e.phase},
              {"metric", JsonOrNull(e.metric)},
              {"spread", JsonOrNull(e.spread)},
              {"n_measurements", e.n_measurements},
              {"started_at", e.started_at},
              {"ended_at", JsonOrNull(e.ended_at)},
              {"train_seconds", JsonOrNull(e.train_seconds)},
              {"tokens", JsonOrNull(e.tokens)},
              {"peak_rss_kb", JsonOrNull(e.peak_rss_kb)},
              {"exit_code", JsonOrNull(e.exit_code)},
              {"term_signal", JsonOrNull(e.term_signal)},
              {"reason", JsonOrNull(e.reason)},
              {"log_tail", JsonOrNull(e.log_tail)},
              {"decision", OptJsonText(e.decision_json)},
              {"pgid", JsonOrNull(e.pgid)}};
  json list = json::array();
  for (const MeasurementRow& m : measurements) list.push_back(MeasurementJson(m));
  row["measurements"] = list;
  if (exchange) {
    row["prompt"] = exchange->prompt;
    row["reply"] = exchange->reply;
  }
  return row;
}

ExperimentRow ExperimentFromJson(const json& j) {
  ExperimentRow e;
  e.id = Get<int64_t>(j, "id");
  e.run_id = Get<int64_t>(j, "run_id");
  e.seq = Get<int64_t>(j, "seq");
  e.parent_commit = Get<std::string>(j, "parent_commit");
  e.commit = GetOpt<std::string>(j, "commit");
  e.tree = GetOpt<std::string>(j, "tree");
  e.proposer = Get<std::string>(j, "proposer");
  e.description = Get<std::string>(j, "description");
  e.params_json = GetJsonText(j, "params");
  e.diff_stat = GetOpt<std::string>(j, "diff_stat");
  e.status = ExperimentStatusFromString(Get<std::string>(j, "status"));
  e.phase = Get<std::string>(j, "phase");
  e.metric = GetOpt<double>(j, "metric");
  e.spread = GetOpt<double>(j, "spread");
  e.n_measurements = Get<int64_t>(j, "n_measurements");
  e.started_at = Get<double>(j, "started_at");
  e.ended_at = GetOpt<double>(j, "ended_at");
  e.train_seconds = GetOpt<double>(j, "train_seconds");
  e.tokens = GetOpt<int64_t>(j, "tokens");
  e.peak_rss_kb = GetOpt<int64_t>(j, "peak_rss_kb");
  e.exit_code = GetOpt<int>(j, "exit_code");
  e.term_signal = GetOpt<int>(j, "term_signal");
  e.reason = GetOpt<std::string>(j, "reason");
  e.log_tail = GetOpt<std::string>(j, "log_tail");
  e.decision_json = GetOptJsonText(j, "decision");
  e.pgid = GetOpt<int64_t>(j, "pgid");
  return e;
}

std::string Seconds(const ExperimentRow& e) {
  return e.ended_at ? fmt::format("{:.3f}", *e.ended_at - e.started_at) : "";
}

template <typename T>
std::string Cell(const std::optional<T>& value) {
  if (!value) return "";
  if constexpr (std::is_floating_point_v<T>) {
    return std::isfinite(*value) ? fmt::format("{:.17g}", *value) : "";
  } else {
    return fmt::format("{}", *value);
  }
}

std::string CsvQuote(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

std::string_view AutoresearchStatus(ExperimentStatus status) {
  switch (status) {
    case ExperimentStatus::kAccepted:
      return "keep";
    case ExperimentStatus::kRejected:
    case ExperimentStatus::kDuplicate:
      return "discard";
    default:
      return "crash";
  }
}

void WriteTsv(const RunData& data, std::ostream& out) {
  out << "commit\t" << data.run.metric_name << "\tmemory_gb\tstatus\tdescription";
  for (const char* column : kTsvExtraColumns) out << '\t' << column;
  out << '\n';
  for (const ExperimentRow& e : data.experiments) {
    out << ResultsTsvCells(e);
    out << '\t' << e.seq << '\t' << ToString(e.status) << '\t' << Cell(e.spread) << '\t'
        << e.n_measurements << '\t' << Seconds(e) << '\t' << Cell(e.train_seconds) << '\t'
        << Cell(e.tokens) << '\t' << Cell(e.peak_rss_kb) << '\t' << SingleLine(e.proposer) << '\t'
        << e.parent_commit << '\t' << e.commit.value_or("") << '\t'
        << SingleLine(e.reason.value_or("")) << '\n';
  }
}

void WriteCsv(const RunData& data, std::ostream& out) {
  const std::vector<std::string> header = {
      "run_tag",    "run_uid",     "metric_name", "goal",           "hardware",  "seq",
      "status",     "metric",      "spread",      "n_measurements", "commit",    "parent_commit",
      "tree",       "proposer",    "description", "params_json",    "diff_stat", "phase",
      "started_at", "ended_at",    "seconds",     "train_seconds",  "tokens",    "peak_rss_kb",
      "exit_code",  "term_signal", "reason",      "decision_json",  "log_tail"};
  for (size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << header[i];
  out << "\r\n";
  std::string hardware = data.hardware ? data.hardware->fingerprint : "";
  for (const ExperimentRow& e : data.experiments) {
    const std::vector<std::string> cells = {data.run.tag,
                                            data.run.uid,
                                            data.run.metric_name,
                                            data.run.goal,
                                            hardware,
                                            std::to_string(e.seq),
                                            std::string(ToString(e.status)),
                                            Cell(e.metric),
                                            Cell(e.spread),
                                            std::to_string(e.n_measurements),
                                            e.commit.value_or(""),
                                            e.parent_commit,
                                            e.tree.value_or(""),
                                            e.proposer,
                                            e.description,
                                            e.params_json,
                                            e.diff_stat.value_or(""),
                                            e.phase,
                                            fmt::format("{:.3f}", e.started_at),
                                            e.ended_at ? fmt::format("{:.3f}", *e.ended_at) : "",
                                            Seconds(e),
                                            Cell(e.train_seconds),
                                            Cell(e.tokens),
                                            Cell(e.peak_rss_kb),
                                            Cell(e.exit_code),
                                            Cell(e.term_signal),
                                            e.reason.value_or(""),
                                            e.decision_json.value_or(""),
                                            e.log_tail.value_or("")};
    for (size_t i = 0; i < cells.size(); ++i) out << (i ? "," : "") << CsvQuote(cells[i]);
    out << "\r\n";
  }
}

json ExportJson(const RunData& data) {
  json root = {{"format", "ratchet-export"}, {"version", kExportJsonVersion}};
  root["run"] = RunJson(data.run);
  if (data.hardware) {
    json hardware = data.hardware->info.ToJson();
    hardware["id"] = data.hardware->id;
    hardware["fingerprint"] = data.hardware->fingerprint;
    root["hardware"] = hardware;
  } else {
    root["hardware"] = nullptr;
  }
  json experiments = json::array();
  for (size_t i = 0; i < data.experiments.size(); ++i) {
    std::optional<ExchangeRow> exchange =
        i < data.exchanges.size() ? data.exchanges[i] : std::nullopt;
    experiments.push_back(ExperimentJson(data.experiments[i], data.measurements[i], exchange));
  }
  root["experiments"] = experiments;
  json events = json::array();
  for (const EventRow& ev : data.events) {
    events.push_back({{"id", ev.id},
                      {"run_id", ev.run_id},
                      {"at", ev.at},
                      {"level", ev.level},
                      {"message", ev.message}});
  }
  root["events"] = events;
  return root;
}

RunData RunDataFromExportJson(const json& root) {
  try {
    if (!root.is_object() || root.value("format", "") != "ratchet-export") {
      throw Error("export json: not a ratchet export (\"format\" is not \"ratchet-export\")");
    }
    int version = Get<int>(root, "version");
    if (version != kExportJsonVersion) {
      throw Error(fmt::format("export json: version {} is not supported (this ratchet reads {})",
                              version, kExportJsonVersion));
    }
    RunData data;
    data.run = RunFromJson(Get<json>(root, "run"));
    if (auto hardware = GetOpt<json>(root, "hardware")) {
      HardwareRow row;
      row.id = Get<int64_t>(*hardware, "id");
      row.fingerprint = Get<std::string>(*hardware, "fingerprint");
      row.info = HardwareInfo::FromJson(*hardware);
      data.hardware = row;
    }
    for (const json& e : Get<json>(root, "experiments")) {
      data.experiments.push_back(ExperimentFromJson(e));
      std::vector<MeasurementRow> measurements;
      for (const json& m : Get<json>(e, "measurements")) {
        measurements.push_back(MeasurementFromJson(m));
      }
      data.measurements.push_back(measurements);
      std::optional<ExchangeRow> exchange;
      if (e.contains("prompt")) {
        exchange = ExchangeRow{Get<std::string>(e, "prompt"), Get<std::string>(e, "reply")};
      }
      data.exchanges.push_back(exchange);
    }
    for (const json& ev : Get<json>(root, "events")) {
      data.events.push_back({Get<int64_t>(ev, "id"), Get<int64_t>(ev, "run_id"),
                             Get<double>(ev, "at"), Get<std::string>(ev, "level"),
                             Get<std::string>(ev, "message")});
    }
    return data;
  } catch (const json::exception& error) {
    throw Error(std::string("export json: ") + error.what());
  }
}

void CommandExport(const ExportOptions& options, std::ostream& out) {
  RunData data = LoadWorkspaceRun(options.workspace, options.tag);
  std::ostringstream text;
  if (options.format == "tsv") {
    WriteTsv(data, text);
  } else if (options.format == "csv") {
    WriteCsv(data, text);
  } else if (options.format == "json") {
    text << ExportJson(data).dump(2) << "\n";
  } else {
    throw Error("--format " + options.format + ": expected tsv, csv or json");
  }
  if (options.output.empty()) {
    out << text.str();
  } else {
    WriteFileAtomic(options.output, text.str());
  }
}

}  // namespace ratchet

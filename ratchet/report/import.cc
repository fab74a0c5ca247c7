#include "ratchet/report/import.h"

#include <spdlog/fmt/fmt.h>

#include <map>
#include <set>
#include <tuple>

#include "base/error.h"
#include "ratchet/loop/loop.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

// Store has no API to write a row's timestamps as given (they are "now" on
// insert), so the import sets them with SQL literals. Text is quoted the SQL
// way; numbers are printed exactly.
std::string SqlText(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += '\'';
    quoted += c;
  }
  return quoted + "'";
}

std::string SqlReal(double value) { return fmt::format("{:.17g}", value); }

std::optional<RunRow> FindRunByUid(const Store& store, const std::string& uid) {
  for (const RunRow& run : store.ListRuns()) {
    if (run.uid == uid) return run;
  }
  return std::nullopt;
}

std::string FreeTag(const Store& store, const std::string& tag, const std::string& fingerprint) {
  std::string base = tag + "@" + (fingerprint.empty() ? "import" : fingerprint.substr(0, 8));
  std::string candidate = base;
  for (int n = 2; store.FindRun(candidate); ++n) candidate = base + "-" + std::to_string(n);
  return candidate;
}

// A finished experiment on the other machine that is unfinished, or
// different, here.
bool Changed(const ExperimentRow& here, const ExperimentRow& there) {
  return here.status != there.status || here.n_measurements != there.n_measurements ||
         here.metric != there.metric || here.ended_at != there.ended_at ||
         here.commit != there.commit || here.reason != there.reason;
}

}  // namespace

std::vector<ImportedRun> ImportStore(const Store& from, Store& into) {
  std::vector<ImportedRun> imported;
  Store::Transaction transaction(into);
  for (const RunRow& source : from.ListRuns()) {
    ImportedRun report;
    report.uid = source.uid;
    report.source_tag = source.tag;

    // Hardware: one row per fingerprint, whatever its id was there.
    std::optional<int64_t> hardware_id;
    std::string fingerprint;
    if (source.hardware_id) {
      if (std::optional<HardwareRow> hardware = from.GetHardware(*source.hardware_id)) {
        hardware_id = into.UpsertHardware(hardware->info);
        fingerprint = hardware->fingerprint;
      }
    }

    RunRow run = source;
    run.hardware_id = hardware_id;
    std::optional<RunRow> existing = FindRunByUid(into, source.uid);
    if (!existing) {
      run.id = 0;
      run.tag = into.FindRun(source.tag) ? FreeTag(into, source.tag, fingerprint) : source.tag;
      run.id = into.CreateRun(run);
      report.new_run = true;
    } else {
      run.id = existing->id;
      run.tag = existing->tag;
      if (source.updated_at > existing->updated_at) into.UpdateRun(run);
    }
    report.tag = run.tag;
    // Keep the run's own last activity time (the store stamps "now").
    double updated_at =
        existing ? std::max(existing->updated_at, source.updated_at) : source.updated_at;
    into.Exec(
        fmt::format("UPDATE runs SET updated_at = {} WHERE id = {};", SqlReal(updated_at), run.id));

    // Experiments by seq, measurements by (role, repeat).
    std::map<int64_t, ExperimentRow> here;
    for (ExperimentRow& e : into.ListExperiments(run.id)) here[e.seq] = std::move(e);
    for (const ExperimentRow& there : from.ListExperiments(source.id)) {
      ExperimentRow e = there;
      e.run_id = run.id;
      e.pgid.reset();  // a process group of another machine (or an earlier boot) is nobody's here
      std::set<std::pair<MeasurementRole, int64_t>> have;
      auto found = here.find(there.seq);
      if (found == here.end()) {
        e.id = 0;
        e.id = into.InsertExperiment(e);
        ++report.experiments_added;
      } else {
        e.id = found->second.id;
        if (Changed(found->second, there)) {
          into.UpdateExperiment(e);
          ++report.experiments_updated;
        }
        for (const MeasurementRow& m : into.ListMeasurements(e.id)) have.insert({m.role, m.repeat});
      }
      if (std::optional<ExchangeRow> exchange = from.GetExchange(there.id)) {
        if (!into.GetExchange(e.id)) into.SetExchange(e.id, exchange->prompt, exchange->reply);
      }
      for (const MeasurementRow& m : from.ListMeasurements(there.id)) {
        if (have.count({m.role, m.repeat})) continue;
        MeasurementRow copy = m;
        copy.id = 0;
        copy.experiment_id = e.id;
        into.AddMeasurement(copy);
        ++report.measurements_added;
      }
    }

    // Events, matched by time and text.
    std::set<std::tuple<double, std::string, std::string>> events;
    for (const EventRow& ev : into.Events(run.id)) events.insert({ev.at, ev.level, ev.message});
    std::string sql;
    for (const EventRow& ev : from.Events(source.id)) {
      if (events.count({ev.at, ev.level, ev.message})) continue;
      sql +=
          fmt::format("INSERT INTO events (run_id, at, level, message) VALUES ({}, {}, {}, {});\n",
                      run.id, SqlReal(ev.at), SqlText(ev.level), SqlText(ev.message));
      ++report.events_added;
    }
    if (!sql.empty()) into.Exec(sql);
    imported.push_back(report);
  }
  transaction.Commit();
  return imported;
}

void CommandImport(const ImportOptions& options, std::ostream& out) {
  if (!fs::exists(options.store)) throw Error(options.store.string() + ": no such store file");
  fs::path target = StorePath(options.workspace);
  if (fs::exists(target) && fs::equivalent(target, options.store)) {
    throw Error(options.store.string() + ": is the workspace's own store");
  }
  if (!fs::is_directory(options.workspace)) {
    throw Error(options.workspace.string() + ": no such folder");
  }
  Store from = Store::OpenReadOnly(options.store);
  fs::create_directories(target.parent_path());
  Store into = Store::Open(target);
  for (const ImportedRun& run : ImportStore(from, into)) {
    out << fmt::format("{} {}{}: {} experiments added, {} updated, {} measurements, {} events\n",
                       run.new_run ? "imported run" : "merged run", run.tag,
                       run.tag != run.source_tag ? " (tagged " + run.source_tag + " there)" : "",
                       run.experiments_added, run.experiments_updated, run.measurements_added,
                       run.events_added);
  }
}

}  // namespace ratchet

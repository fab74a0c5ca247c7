// `ratchet export`: a run's experiments as TSV, CSV or JSON for notebooks and
// other tools.
//
// TSV contract (what users of the original autoresearch loop analyse from
// results.tsv): the first five columns are, in order,
//   commit  <metric_name>  memory_gb  status  description
// with commit the 7-character short id, the metric with 6 decimals (0.000000
// when there is none, as the original does for crashes), memory_gb the peak
// RSS in GiB with 1 decimal (0.0 when unknown), status keep (accepted, the
// baseline included) / discard (rejected, duplicate) / crash (crashed,
// timeout, invalid, interrupted, unfinished), and a one-line description.
// ratchet's own columns follow (kTsvExtraColumns).
//
// CSV (RFC 4180 quoting): every column of every experiment, plus the run's
// tag, uid, metric name and hardware fingerprint on each row.
// JSON: {"format": "ratchet-export", "version": 1, "run", "hardware",
// "experiments": [... each with "measurements": [...]], "events"}; every
// store column under its own name, JSON columns embedded as JSON; an
// experiment of an agent or LLM proposer also has "prompt" and "reply".
// (CSV leaves them out: prompts of tens of kilobytes make unusable rows.)
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

#include "ratchet/report/report_data.h"

namespace ratchet {

inline constexpr int kExportJsonVersion = 1;
inline constexpr const char* kTsvExtraColumns[] = {
    "seq",    "ratchet_status", "spread",   "n_measurements", "seconds",     "train_seconds",
    "tokens", "peak_rss_kb",    "proposer", "parent",         "full_commit", "reason"};

struct ExportOptions {
  std::filesystem::path workspace;
  std::string tag;               // empty: the most recently active run
  std::string format = "tsv";    // tsv | csv | json
  std::filesystem::path output;  // empty: `out`
};

// keep / discard / crash, as in the original results.tsv.
std::string_view AutoresearchStatus(ExperimentStatus status);

void WriteTsv(const RunData& data, std::ostream& out);
void WriteCsv(const RunData& data, std::ostream& out);
nlohmann::json ExportJson(const RunData& data);

// Inverse of ExportJson, for round trips and tools: the rows as they were in
// the store (ids included). Throws Error naming the key on malformed input or
// an unknown format version.
RunData RunDataFromExportJson(const nlohmann::json& json);

// Writes to options.output (atomically) or to `out`.
void CommandExport(const ExportOptions& options, std::ostream& out);

}  // namespace ratchet

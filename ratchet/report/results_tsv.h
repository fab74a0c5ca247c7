// results.tsv as the public autoresearch runs write it, so notebooks written
// for those runs read a ratchet's history unchanged:
//   commit <TAB> <metric_name> <TAB> memory_gb <TAB> status <TAB> description
// (header `commit	val_bpb	memory_gb	status	description` for the val_bpb
// specs), one row per decided experiment in sequence order, the baseline
// first: commit the 7-character short id, the metric with 6 decimals
// (0.000000 when there is none, as autoresearch writes crashes), memory_gb
// the peak RSS of training in GiB with 1 decimal (0.0 when unknown), status
// keep / discard / crash (AutoresearchStatus), the description on one line.
// Experiments still running are left out until they are decided.
//
// During `ratchet run` the file is <workspace>/.ratchet/runs/<tag>/results.tsv,
// rewritten atomically after every decision (outside the git tree, so the
// candidates never see it). `ratchet export --format tsv` prints the same
// five columns followed by ratchet's own.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "ratchet/report/report_data.h"
#include "ratchet/store/store.h"

namespace ratchet {

// The five cells of one experiment, tab-separated, without the newline.
std::string ResultsTsvCells(const ExperimentRow& experiment);

void WriteResultsTsv(const RunData& data, std::ostream& out);

// <workspace>/.ratchet/runs/<tag>/results.tsv
std::filesystem::path ResultsTsvPath(const std::filesystem::path& workspace,
                                     const std::string& tag);

// Reads the run's experiments from `store` and replaces `path` atomically
// (temp file, fsync, rename), so a reader never sees half a file.
void WriteResultsTsvFile(const Store& store, const RunRow& run, const std::filesystem::path& path);

}  // namespace ratchet

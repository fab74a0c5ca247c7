#include "ratchet/report/results_tsv.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <sstream>

#include "base/fs.h"
#include "ratchet/loop/loop.h"
#include "ratchet/report/export.h"

namespace ratchet {

std::string ResultsTsvCells(const ExperimentRow& e) {
  const std::string commit = e.commit ? e.commit->substr(0, 7) : "";
  const double metric = e.metric && std::isfinite(*e.metric) ? *e.metric : 0.0;
  const double memory_gb = e.peak_rss_kb ? *e.peak_rss_kb / (1024.0 * 1024.0) : 0.0;
  return fmt::format("{}\t{:.6f}\t{:.1f}\t{}\t{}", commit, metric, memory_gb,
                     AutoresearchStatus(e.status), SingleLine(e.description));
}

void WriteResultsTsv(const RunData& data, std::ostream& out) {
  out << "commit\t" << data.run.metric_name << "\tmemory_gb\tstatus\tdescription\n";
  for (const ExperimentRow& e : data.experiments) {
    if (IsUnfinished(e.status)) continue;
    out << ResultsTsvCells(e) << '\n';
  }
}

std::filesystem::path ResultsTsvPath(const std::filesystem::path& workspace,
                                     const std::string& tag) {
  return RatchetDir(workspace) / "runs" / tag / "results.tsv";
}

void WriteResultsTsvFile(const Store& store, const RunRow& run, const std::filesystem::path& path) {
  // Only the experiment rows: the whole RunData (measurements, prompts of
  // agent runs, events) would be read again after every decision.
  RunData data;
  data.run = run;
  data.experiments = store.ListExperiments(run.id);
  std::ostringstream text;
  WriteResultsTsv(data, text);
  WriteFileAtomic(path, text.str());
}

}  // namespace ratchet

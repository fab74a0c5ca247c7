// `ratchet report`: one self-contained HTML page about a run (inline SVG,
// inline CSS, a few lines of inline JS for tooltips; nothing fetched from the
// network), for the user who comes back in the morning:
//   - the progress chart (report_chart.h),
//   - the totals: experiments by status, experiments/hour, time in training
//     and evaluation vs overhead, the budget,
//   - the accepted changes with their effect sizes (improvement, %, in units
//     of the calibration noise sd, the confirm test's t),
//   - the best config against the baseline config, when the spec's
//     proposer.config is a JSON file (changed parameters highlighted),
//   - every experiment (status, metric, duration, description; the reason for
//     crashed, invalid, timeout, duplicate and interrupted ones),
//   - the hardware, the pinned evaluator and the spec, and the run's events.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "ratchet/report/report_data.h"

namespace ratchet {

struct ReportOptions {
  std::filesystem::path workspace;
  std::string tag;             // empty: the most recently active run
  std::filesystem::path html;  // at least one of html, svg, png is required
  std::filesystem::path svg;   // the chart alone
  std::filesystem::path png;   // the chart as PNG (needs rsvg-convert or chromium)
};

std::string RenderReportHtml(const RunData& data);

// Writes the requested files (atomically) and names them on `out`.
void CommandReport(const ReportOptions& options, std::ostream& out);

// Pieces shared with `ratchet compare --html`.
std::string HtmlHead(const std::string& title);  // <!DOCTYPE html> … <body>
std::string HtmlTail();                          // tooltip script, </body></html>
// A <table> of flattened config keys (rows) by configs (columns), rows whose
// values differ across columns marked class="differs".
std::string ConfigTableHtml(const std::vector<std::string>& column_names,
                            const std::vector<std::optional<nlohmann::json>>& configs);

}  // namespace ratchet

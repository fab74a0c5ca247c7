// `ratchet compare A B [C…]`: runs side by side — hardware, budget kind and
// amount, experiments, baseline and best metric, and the best configuration
// of each with the parameters that differ highlighted. Each run is a source
// (report_data.h): a workspace, workspace:tag, or a store file from another
// machine.
//
// Metrics are only comparable when the runs used the same evaluator (same
// pins_digest: program, held-out data, immutable files) and the same metric
// and goal. Otherwise the numbers are still shown, with a note saying which
// runs are not comparable and why; the overlay chart is drawn per group.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ratchet/report/report_data.h"

namespace ratchet {

struct CompareOptions {
  std::vector<std::string> sources;  // at least two
  std::filesystem::path html;        // also write the page with the overlaid progress charts
  std::string x_axis = "seq";        // seq | hours: x of the overlaid charts
};

// Why runs a and b cannot be compared on their metric, or "" if they can.
std::string WhyNotComparable(const RunRow& a, const RunRow& b);

// Text table of the runs side by side, configs with differing parameters
// marked '*'.
void WriteComparisonText(const std::vector<RunData>& runs, std::ostream& out);
std::string RenderComparisonHtml(const std::vector<RunData>& runs, const std::string& x_axis);

void CommandCompare(const CompareOptions& options, std::ostream& out);

}  // namespace ratchet

// The progress chart as a self-contained SVG: every experiment a dot (x: its
// number or the hours since the run started; y: its metric), accepted ones
// joined by the running-best step line and labelled with their description,
// the calibration noise band around the baseline, experiments without a
// metric (crashed, invalid, duplicate…) in a lane below the axis.
//
// Readable at 1,000 experiments: dots shrink with the count, labels are
// thinned (biggest improvements first, never two closer than a label's
// height) and abbreviated, and the y range ignores outliers (points beyond
// it are drawn as triangles on the edge, their tooltip says so).
//
// Every point carries data-seq="<experiment number>" (and data-run="<series
// index>") and a <title> tooltip; every label data-label-seq. Colours are
// presentation attributes, not CSS, so SVG converters render the file alone.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ratchet/report/report_data.h"

namespace ratchet {

enum class ChartX { kSeq, kHours };

struct ChartPoint {
  int64_t seq = 0;
  double x = 0;
  std::optional<double> y;  // nullopt: no metric (drawn in the lane)
  ExperimentStatus status = ExperimentStatus::kRejected;
  std::string tooltip;     // one line
  std::string label;       // for accepted changes: the description
  double improvement = 0;  // for accepted changes: label priority
};

struct ChartSeries {
  std::string name;
  std::string color;  // empty: colour dots by status (single-run chart)
  std::vector<ChartPoint> points;
  std::optional<double> baseline;
  std::optional<double> noise_sd;
};

struct ChartOptions {
  int width = 1200;
  int height = 600;
  ChartX x = ChartX::kSeq;
  std::string y_title = "metric";
  std::string title;
  bool maximize = false;  // the goal: where "better" is on the y axis
  bool labels = true;     // label accepted changes
  int max_labels = 40;
  int label_chars = 42;  // longer descriptions are abbreviated with "…"
};

// One series per run; `color` empty colours by status.
ChartSeries SeriesFromRun(const RunData& data, ChartX x, const std::string& color = "");

std::string RenderProgressChart(const std::vector<ChartSeries>& series,
                                const ChartOptions& options);

// The fill colour of a status (also used by the HTML tables).
std::string_view StatusColor(ExperimentStatus status);
// A distinct colour for the i-th run of an overlay.
std::string SeriesColor(size_t index);

// About `target` round tick values (1, 2, 5 × 10^k steps) covering [lo, hi].
std::vector<double> NiceTicks(double lo, double hi, int target);
// The y range to draw: every value of `must` (accepted results, the noise
// band) and every value of `values` except outliers beyond 3 IQR of the
// quartiles; padded by 4 %.
std::pair<double, double> RobustRange(std::vector<double> values, const std::vector<double>& must);

// &, <, >, " and ' escaped for XML/HTML text and attributes.
std::string XmlEscape(std::string_view text);
// At most `max_chars` characters (UTF-8 aware), "…" appended when cut.
std::string Abbreviate(const std::string& text, size_t max_chars);

}  // namespace ratchet

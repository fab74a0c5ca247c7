// Training-loss curves, read back from each measurement's train.out
// (runner/training_log.h) and drawn as SVG: a full chart with axes (the best
// against the baseline) and sparklines for the table of experiments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ratchet/report/report_data.h"
#include "ratchet/runner/training_log.h"

namespace ratchet {

struct LossCurve {
  std::string name;   // legend and tooltip
  std::string color;  // SVG colour
  std::vector<TrainingPoint> points;
};

// The folder of measurement `repeat` of experiment `seq` (the loop's
// <workspace>/.ratchet/runs/<tag>/<seq>.<repeat>); empty for a run read from a
// bare store file.
std::filesystem::path MeasurementDir(const RunData& data, int64_t seq, int64_t repeat);

// The training curve of the experiment at `index` of data.experiments: its
// first measurement that trained (the one every experiment has), or its
// newest while it is still training. Empty when no log is left.
std::vector<TrainingPoint> ExperimentCurve(const RunData& data, size_t index,
                                           size_t max_points = 400);

struct LossChartOptions {
  int width = 1200;
  int height = 360;
  bool axes = true;  // false: a bare sparkline
  // Shared y range (e.g. of every sparkline in a table); nullopt: fit these curves.
  std::optional<std::pair<double, double>> y_range;
};

// Loss against tokens (or steps, where a curve's trainer prints no tokens).
// An empty set of curves draws an empty frame saying so.
std::string RenderLossChart(const std::vector<LossCurve>& curves, const LossChartOptions& options);

// The y range that holds every point of `curves` (nullopt when they have none).
std::optional<std::pair<double, double>> LossRange(const std::vector<LossCurve>& curves);

}  // namespace ratchet

// A trainer's progress as its log shows it: every line of its stdout that is
// a JSON object with a numeric "loss" is a point of the training curve
// (ratchet-train prints {"step","tokens","loss","lr","tokens_per_s","elapsed"};
// any trainer that prints such lines gets live progress and loss curves).
// Lines that are not such objects (summaries, plain text) are skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace ratchet {

struct TrainingPoint {
  double loss = 0;
  std::optional<int64_t> step;
  std::optional<int64_t> tokens;
  std::optional<double> tokens_per_s;
  std::optional<double> elapsed;  // seconds since training began
};

// The point a line holds, if it is a progress line.
std::optional<TrainingPoint> ParseTrainingLine(std::string_view line);

// Every point of the log at `path` (none when it is missing), thinned to at
// most `max_points` spread evenly over the run, the last point always kept.
std::vector<TrainingPoint> ReadTrainingCurve(const std::filesystem::path& path,
                                             size_t max_points = 1000);

// The last point of the log, reading only its tail: cheap enough for a live
// view that polls a growing file.
std::optional<TrainingPoint> LastTrainingPoint(const std::filesystem::path& path);

}  // namespace ratchet

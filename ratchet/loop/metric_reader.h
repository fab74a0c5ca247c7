// Reading the metric out of an evaluator's stdout, the two ways evaluators
// print it: a JSON object on a line of its own ({"val_bpb": 1.23, ...}), or
// `name: value` / `name=value` lines as popular training scripts print. The
// last matching line wins, so progress lines printed earlier do not count.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ratchet/spec/spec.h"

namespace ratchet {

struct MetricReading {
  // Absent when no line names the metric. NaN or ±inf when the evaluator
  // printed such a value (JSON: null, "nan", "inf"; kv: nan, inf): the loop
  // records those as crashed, never as a score.
  std::optional<double> value;
  nlohmann::json extra = nlohmann::json::object();  // every other number on the metric's line
};

MetricReading ReadMetric(std::string_view output, const MetricSpec& metric);

}  // namespace ratchet

// A stand-in for an expensive objective: a tree ensemble fitted by
// bench/tinygpt_surrogate.py to measured trainings (val_bpb of tinygpt
// configs), so a proposer change can be screened on a tinygpt-like landscape
// in seconds instead of hours of training. The file holds one JSON header
// line ({"spec_file", "keys", "baseline"}: the spec whose search space the
// keys index, and the baseline config), then "N" trees, each as "M" nodes of
// "feature threshold left right value" (a leaf has left = -1), as
// scikit-learn's tree_ arrays.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ratchet/spec/search_space.h"

namespace ratchet::bench {

class SurrogateForest {
 public:
  // Throws ratchet::Error naming `file` when it cannot be read or parsed.
  static SurrogateForest Load(const std::filesystem::path& file);

  // The ensemble's mean prediction for `config`.
  double Predict(const nlohmann::json& config) const;

  const SearchSpace& space() const { return space_; }
  const nlohmann::json& baseline() const { return baseline_; }

 private:
  struct Node {
    int feature, left, right;
    double threshold, value;
  };
  // One feature per key: -1 when inactive, a choice's index, a number's
  // place in its range (log range when log), as the fitting script encodes.
  std::vector<double> Features(const nlohmann::json& config) const;

  std::vector<std::vector<Node>> trees_;
  std::vector<std::string> keys_;
  SearchSpace space_;
  nlohmann::json baseline_;
};

}  // namespace ratchet::bench

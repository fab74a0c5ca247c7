// Multivariate TPE (Optuna's TPESampler(multivariate=True), after Falkner et
// al.'s BOHB): one joint kernel per observation over every parameter instead
// of one independent density per parameter. A candidate draws all its values
// from the same good observation's kernel, so values that worked together are
// proposed together, and l(x)/g(x) is scored on the whole configuration.
//
// Bandwidths as Optuna's: Scott's rule, sigma = 0.2 n^(-1/(d+4)) × range for
// every observation's kernel in every numeric dimension (n observations, d
// dimensions), magic-clipped to at least range / min(100, n + 2); the prior
// kernel (middle, sigma = range; uniform over choices) has weight 1. A
// categorical dimension uses the same rows as FitCategorical. A dimension an
// observation did not have (an inactive conditional parameter) uses the
// prior's kernel in that observation's component.
#pragma once

#include <cstddef>
#include <optional>
#include <random>
#include <vector>

namespace ratchet::tpe {

// One dimension: numeric on [low, high] (already in log space for log
// parameters), or categorical with n_choices values coded 0..n_choices-1.
struct Dimension {
  bool categorical = false;
  double low = 0, high = 1;
  size_t n_choices = 0;
};

// One observation: a value per dimension, nullopt where it had none.
using Point = std::vector<std::optional<double>>;

struct JointEstimator {
  std::vector<Dimension> dims;
  std::vector<double> weights;                          // per component, sum 1; the prior's last
  std::vector<std::vector<double>> mus, sigmas;         // [component][dimension], numeric
  std::vector<std::vector<std::vector<double>>> probs;  // [component][dimension][choice]
  bool width_weighted = true;                           // as NumericEstimator::width_weighted

  size_t PickComponent(std::mt19937_64& rng) const;
  // A value of dimension j drawn from component k's kernel.
  double Sample(size_t k, size_t j, std::mt19937_64& rng) const;
  // log density of x over the dimensions where use[j] (x[j] ignored elsewhere).
  double LogPdf(const std::vector<double>& x, const std::vector<bool>& use) const;
};

// `observations` oldest first with their weights (same size).
// REQUIRES: low < high for numeric dims, n_choices >= 1 for categorical ones.
JointEstimator FitJoint(const std::vector<Dimension>& dims, const std::vector<Point>& observations,
                        const std::vector<double>& weights);

}  // namespace ratchet::tpe

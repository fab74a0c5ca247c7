// The surrogate of the `additive` proposer: a Bayesian linear model of the
// loss over per-parameter features, so that each parameter's effect is
// estimated with the others' effects taken out (a regression), where TPE's
// per-parameter densities only compare the values seen in good and bad
// configs. Thompson sampling draws one plausible model from the posterior;
// the proposer runs the candidate that draw likes best.
//
// Features of a config: each choice (and bool) value present, as an
// indicator; each number as z and z² with z its place in its range (log
// range when log) minus 1/2, so a best value inside the range can be
// learned; a conditional parameter also gets an "inactive" indicator.
#pragma once

#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "ratchet/spec/search_space.h"

namespace ratchet::additive {

// The feature vector of `config` (one slot per feature, FeatureCount of them).
std::vector<double> Features(const SearchSpace& space, const nlohmann::json& config);
size_t FeatureCount(const SearchSpace& space);

// y ≈ y_mean + Σ_j (x_j - x_mean_j) / x_scale_j · w_j with the prior
// w ~ N(0, noise²/ridge · I): every feature standardised (scale: its standard
// deviation over the rows, 1 if constant) so the prior weighs them alike.
// The posterior of w is N(mean, noise² · A⁻¹), A = XsᵀXs + ridge·I on the
// standardised features Xs, noise² the residuals' mean square.
struct Posterior {
  double y_mean = 0;
  std::vector<double> x_mean, x_scale;
  std::vector<double> mean;
  std::vector<double> a_chol;  // lower Cholesky factor of A, row-major d × d
  double noise = 0;

  // A draw of w from the posterior.
  std::vector<double> Draw(std::mt19937_64& rng) const;
  // The loss weights `w` predict for features `x`.
  double Predict(const std::vector<double>& w, const std::vector<double>& x) const;
};

// REQUIRES: rows all the same size, rows.size() == y.size() >= 2, ridge > 0.
Posterior Fit(const std::vector<std::vector<double>>& rows, const std::vector<double>& y,
              double ridge);

// Each value's normal score: the standard normal quantile of its rank
// ((rank + 1/2) / n, ties sharing the lowest rank), so only the order counts.
std::vector<double> NormalScores(const std::vector<double>& y);

// Lower Cholesky factor L of the symmetric positive definite d × d matrix a
// (row-major; only its lower triangle is read), a = L·Lᵀ.
std::vector<double> Cholesky(const std::vector<double>& a, size_t d);

}  // namespace ratchet::additive

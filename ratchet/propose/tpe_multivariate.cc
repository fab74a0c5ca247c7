#include "ratchet/propose/tpe_multivariate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ratchet/propose/proposer_tpe.h"

namespace ratchet::tpe {

JointEstimator FitJoint(const std::vector<Dimension>& dims, const std::vector<Point>& observations,
                        const std::vector<double>& weights) {
  JointEstimator e;
  e.dims = dims;
  const size_t n = observations.size();
  const double d = static_cast<double>(dims.size());
  const double sigma0 = 0.2 * std::pow(std::max<double>(n, 1), -1.0 / (d + 4));
  const double clip = std::min(100.0, static_cast<double>(n) + 2.0);

  e.weights = weights;
  e.weights.push_back(1.0);  // the prior
  double total = std::accumulate(e.weights.begin(), e.weights.end(), 0.0);
  for (double& w : e.weights) w /= total;

  e.mus.assign(n + 1, std::vector<double>(dims.size(), 0.0));
  e.sigmas = e.mus;
  e.probs.assign(n + 1, std::vector<std::vector<double>>(dims.size()));
  for (size_t j = 0; j < dims.size(); ++j) {
    const Dimension& dim = dims[j];
    const double range = dim.high - dim.low;
    for (size_t k = 0; k <= n; ++k) {
      const std::optional<double> v = k < n ? observations[k][j] : std::nullopt;
      if (dim.categorical) {
        // Prior rows are uniform; an observation's row puts 1 + 1/(n+1) on its
        // choice and 1/(n+1) elsewhere, normalised (Optuna's smoothing).
        std::vector<double>& row = e.probs[k][j];
        row.assign(dim.n_choices, 1.0 / static_cast<double>(n + 1));
        if (v) row[static_cast<size_t>(*v)] += 1.0;
        double sum = std::accumulate(row.begin(), row.end(), 0.0);
        for (double& p : row) p /= sum;
      } else if (v) {
        e.mus[k][j] = *v;
        e.sigmas[k][j] = std::clamp(sigma0 * range, range / clip, range);
      } else {
        e.mus[k][j] = 0.5 * (dim.low + dim.high);
        e.sigmas[k][j] = range;
      }
    }
  }
  return e;
}

size_t JointEstimator::PickComponent(std::mt19937_64& rng) const {
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return pick(rng);
}

double JointEstimator::Sample(size_t k, size_t j, std::mt19937_64& rng) const {
  const Dimension& dim = dims[j];
  if (dim.categorical) {
    const std::vector<double>& row = probs[k][j];
    std::discrete_distribution<size_t> pick(row.begin(), row.end());
    return static_cast<double>(pick(rng));
  }
  return SampleKernel(mus[k][j], sigmas[k][j], dim.low, dim.high, rng);
}

double JointEstimator::LogPdf(const std::vector<double>& x, const std::vector<bool>& use) const {
  std::vector<double> terms;
  for (size_t k = 0; k < weights.size(); ++k) {
    double t = std::log(weights[k]);
    for (size_t j = 0; j < dims.size(); ++j) {
      if (!use[j]) continue;
      const Dimension& dim = dims[j];
      t += dim.categorical
               ? std::log(probs[k][j][static_cast<size_t>(x[j])])
               : KernelLogPdf(x[j], mus[k][j], sigmas[k][j], dim.low, dim.high, width_weighted);
    }
    terms.push_back(t);
  }
  return LogSumExp(terms);
}

}  // namespace ratchet::tpe

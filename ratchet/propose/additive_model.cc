#include "ratchet/propose/additive_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ratchet::additive {
namespace {

bool IsChoice(const Param& p) {
  return p.type == Param::Type::kChoice || p.type == Param::Type::kBool;
}

size_t ChoiceCount(const Param& p) { return p.type == Param::Type::kBool ? 2 : p.values.size(); }

// Solves L·x = b in place (L lower, row-major d × d).
void SolveLower(const std::vector<double>& l, size_t d, std::vector<double>& b) {
  for (size_t i = 0; i < d; ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i * d + k] * b[k];
    b[i] = s / l[i * d + i];
  }
}

// Solves Lᵀ·x = b in place.
void SolveUpper(const std::vector<double>& l, size_t d, std::vector<double>& b) {
  for (size_t i = d; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < d; ++k) s -= l[k * d + i] * b[k];
    b[i] = s / l[i * d + i];
  }
}

}  // namespace

size_t FeatureCount(const SearchSpace& space) {
  size_t n = 0;
  for (const Param& p : space.params) {
    n += IsChoice(p) ? ChoiceCount(p) : 2;
    if (!p.when.empty()) ++n;
  }
  return n;
}

std::vector<double> Features(const SearchSpace& space, const nlohmann::json& config) {
  std::vector<double> x;
  x.reserve(FeatureCount(space));
  for (const Param& p : space.params) {
    const nlohmann::json* v = GetPath(config, p.name);
    const bool active = space.IsActive(p, config) && v != nullptr && space.Contains(p, *v);
    if (IsChoice(p)) {
      for (size_t c = 0; c < ChoiceCount(p); ++c) {
        const bool is_c = active && (p.type == Param::Type::kBool ? v->get<bool>() == (c == 1)
                                                                  : *v == p.values[c]);
        x.push_back(is_c ? 1.0 : 0.0);
      }
    } else {
      const double z = active ? RangePosition(p, v->get<double>()) - 0.5 : 0.0;
      x.push_back(z);
      x.push_back(z * z);
    }
    if (!p.when.empty()) x.push_back(active ? 0.0 : 1.0);
  }
  return x;
}

std::vector<double> NormalScores(const std::vector<double>& y) {
  std::vector<double> sorted = y;
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> scores;
  for (double v : y) {
    const double rank =
        static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
    const double p = (rank + 0.5) / static_cast<double>(y.size());
    // The quantile by bisection on the normal CDF: exact to 1e-15 in 60 halvings.
    double lo = -10, hi = 10;
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (lo + hi);
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
    }
    scores.push_back(0.5 * (lo + hi));
  }
  return scores;
}

std::vector<double> Cholesky(const std::vector<double>& a, size_t d) {
  std::vector<double> l(d * d, 0.0);
  for (size_t j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    for (size_t k = 0; k < j; ++k) diag -= l[j * d + k] * l[j * d + k];
    l[j * d + j] = std::sqrt(std::max(diag, 1e-12));
    for (size_t i = j + 1; i < d; ++i) {
      double s = a[i * d + j];
      for (size_t k = 0; k < j; ++k) s -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = s / l[j * d + j];
    }
  }
  return l;
}

Posterior Fit(const std::vector<std::vector<double>>& rows, const std::vector<double>& y,
              double ridge) {
  const size_t n = rows.size(), d = rows.front().size();
  Posterior post;
  post.y_mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  post.x_mean.assign(d, 0.0);
  post.x_scale.assign(d, 0.0);
  for (const auto& r : rows) {
    for (size_t j = 0; j < d; ++j) post.x_mean[j] += r[j] / static_cast<double>(n);
  }
  for (const auto& r : rows) {
    for (size_t j = 0; j < d; ++j) {
      post.x_scale[j] += (r[j] - post.x_mean[j]) * (r[j] - post.x_mean[j]) / static_cast<double>(n);
    }
  }
  for (double& s : post.x_scale) s = s > 1e-24 ? std::sqrt(s) : 1.0;
  std::vector<double> a(d * d, 0.0), xty(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> xc(d);
    for (size_t j = 0; j < d; ++j) xc[j] = (rows[i][j] - post.x_mean[j]) / post.x_scale[j];
    for (size_t j = 0; j < d; ++j) {
      xty[j] += xc[j] * (y[i] - post.y_mean);
      for (size_t k = 0; k <= j; ++k) a[j * d + k] += xc[j] * xc[k];  // lower triangle
    }
  }
  for (size_t j = 0; j < d; ++j) a[j * d + j] += ridge;
  post.a_chol = Cholesky(a, d);
  post.mean = xty;
  SolveLower(post.a_chol, d, post.mean);
  SolveUpper(post.a_chol, d, post.mean);
  double rss = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = y[i] - post.Predict(post.mean, rows[i]);
    rss += r * r;
  }
  post.noise = std::sqrt(std::max(rss / static_cast<double>(n - 1), 1e-12));
  return post;
}

std::vector<double> Posterior::Draw(std::mt19937_64& rng) const {
  // w = mean + noise · L⁻ᵀ·ξ has covariance noise² · (L·Lᵀ)⁻¹ = noise² · A⁻¹.
  const size_t d = mean.size();
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> u(d);
  for (double& v : u) v = normal(rng);
  SolveUpper(a_chol, d, u);
  std::vector<double> w(d);
  for (size_t j = 0; j < d; ++j) w[j] = mean[j] + noise * u[j];
  return w;
}

double Posterior::Predict(const std::vector<double>& w, const std::vector<double>& x) const {
  double s = y_mean;
  for (size_t j = 0; j < w.size(); ++j) s += (x[j] - x_mean[j]) / x_scale[j] * w[j];
  return s;
}

}  // namespace ratchet::additive

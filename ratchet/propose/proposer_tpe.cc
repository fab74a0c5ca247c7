#include "ratchet/propose/proposer_tpe.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>

#include "ratchet/propose/search_moves.h"
#include "ratchet/propose/search_proposer.h"
#include "ratchet/propose/tpe_multivariate.h"

namespace ratchet {
namespace tpe {
namespace {

constexpr double kPriorWeight = 1.0;

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Observation weights followed by the prior's, normalised.
std::vector<double> MixtureWeights(const std::vector<double>& weights) {
  std::vector<double> w = weights;
  w.push_back(kPriorWeight);
  double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w) x /= total;
  return w;
}

size_t PickComponent(const std::vector<double>& weights, std::mt19937_64& rng) {
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return pick(rng);
}

}  // namespace

double LogSumExp(const std::vector<double>& terms) {
  double top = -std::numeric_limits<double>::infinity();
  for (double t : terms) top = std::max(top, t);
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

int Gamma(int n) { return std::min(static_cast<int>(std::ceil(0.1 * n)), 25); }

std::vector<double> DefaultWeights(int n) {
  if (n <= 0) return {};
  if (n < 25) return std::vector<double>(n, 1.0);
  std::vector<double> w;
  int ramp = n - 25;
  // numpy.linspace(1/n, 1, ramp)
  for (int i = 0; i < ramp; ++i) {
    double start = 1.0 / n;
    w.push_back(ramp == 1 ? start : start + (1.0 - start) * i / (ramp - 1));
  }
  w.insert(w.end(), 25, 1.0);
  return w;
}

NumericEstimator FitNumeric(const std::vector<double>& observations,
                            const std::vector<double>& weights, double low, double high) {
  NumericEstimator e;
  e.low = low;
  e.high = high;
  const double prior_mu = 0.5 * (low + high);
  const double prior_sigma = high - low;
  const size_t n = observations.size();

  // Each kernel's width is the larger gap to its sorted neighbours (the
  // prior's mean included, the range ends as outer neighbours); the outermost
  // kernels use their inner gap only (endpoints not considered).
  std::vector<double> with_prior = observations;
  with_prior.push_back(prior_mu);
  std::vector<size_t> order(with_prior.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return with_prior[a] < with_prior[b]; });
  std::vector<double> sorted(with_prior.size() + 2);
  sorted.front() = low;
  sorted.back() = high;
  for (size_t i = 0; i < order.size(); ++i) sorted[i + 1] = with_prior[order[i]];
  std::vector<double> sorted_sigmas(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    sorted_sigmas[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
  }
  if (sorted.size() >= 4) {
    sorted_sigmas.front() = sorted[2] - sorted[1];
    sorted_sigmas.back() = sorted[sorted.size() - 2] - sorted[sorted.size() - 3];
  }
  std::vector<double> sigmas(order.size());
  for (size_t i = 0; i < order.size(); ++i) sigmas[order[i]] = sorted_sigmas[i];

  // Optuna's "magic clip": no kernel narrower than range / min(100, 1 + kernels).
  const double max_sigma = prior_sigma;
  const double min_sigma = prior_sigma / std::min(100.0, 1.0 + static_cast<double>(n + 1));
  for (size_t i = 0; i < n; ++i) {
    e.mus.push_back(observations[i]);
    e.sigmas.push_back(std::clamp(sigmas[i], min_sigma, max_sigma));
  }
  e.mus.push_back(prior_mu);
  e.sigmas.push_back(prior_sigma);
  e.weights = MixtureWeights(weights);
  return e;
}

double KernelLogPdf(double x, double mu, double sigma, double low, double high,
                    bool width_weighted) {
  double z = (x - mu) / sigma;
  double mass = NormalCdf((high - mu) / sigma) - NormalCdf((low - mu) / sigma);
  return -0.5 * z * z - std::log((width_weighted ? 1.0 : sigma) * std::sqrt(2 * M_PI)) -
         std::log(mass);
}

double SampleKernel(double mu, double sigma, double low, double high, std::mt19937_64& rng) {
  // Rejection from the untruncated normal: mu is inside the range and sigma
  // at most the range, so at least a third of the draws land inside.
  std::normal_distribution<double> normal(mu, sigma);
  for (int i = 0; i < 1000; ++i) {
    double x = normal(rng);
    if (x >= low && x <= high) return x;
  }
  return std::clamp(mu, low, high);
}

double NumericEstimator::LogPdf(double x) const {
  std::vector<double> terms;
  for (size_t k = 0; k < mus.size(); ++k) {
    terms.push_back(std::log(weights[k]) +
                    KernelLogPdf(x, mus[k], sigmas[k], low, high, width_weighted));
  }
  return LogSumExp(terms);
}

double NumericEstimator::Sample(std::mt19937_64& rng) const {
  size_t k = PickComponent(weights, rng);
  return SampleKernel(mus[k], sigmas[k], low, high, rng);
}

CategoricalEstimator FitCategorical(const std::vector<size_t>& observations,
                                    const std::vector<double>& weights, size_t n_choices) {
  CategoricalEstimator e;
  std::vector<double> mixture = MixtureWeights(weights);
  const double n_kernels = static_cast<double>(observations.size() + 1);
  e.probs.assign(n_choices, 0.0);
  for (size_t k = 0; k < observations.size(); ++k) {
    // Row: prior_weight / n_kernels everywhere, +1 on the observed choice.
    double row_total = kPriorWeight / n_kernels * static_cast<double>(n_choices) + 1.0;
    for (size_t c = 0; c < n_choices; ++c) {
      double v = kPriorWeight / n_kernels + (c == observations[k] ? 1.0 : 0.0);
      e.probs[c] += mixture[k] * v / row_total;
    }
  }
  for (size_t c = 0; c < n_choices; ++c) {
    e.probs[c] += mixture.back() / static_cast<double>(n_choices);
  }
  return e;
}

double CategoricalEstimator::LogPmf(size_t choice) const { return std::log(probs[choice]); }

size_t CategoricalEstimator::Sample(std::mt19937_64& rng) const {
  return PickComponent(probs, rng);
}

}  // namespace tpe

namespace {

// Where a parameter's values live for the estimator.
struct Scale {
  double low, high;
  bool log;
};

Scale ScaleOf(const Param& p) {
  double lo = p.min, hi = p.max;
  if (p.type == Param::Type::kInt) {
    lo -= 0.5;
    hi += 0.5;
    if (p.log) lo = std::max(lo, p.min * 0.5);  // stays > 0
  }
  if (p.log) return {std::log(lo), std::log(hi), true};
  return {lo, hi, false};
}

size_t ChoiceIndex(const Param& p, const nlohmann::json& v) {
  if (p.type == Param::Type::kBool) return v.get<bool>() ? 1 : 0;
  for (size_t i = 0; i < p.values.size(); ++i) {
    if (p.values[i] == v) return i;
  }
  return 0;
}

nlohmann::json ChoiceValue(const Param& p, size_t i) {
  if (p.type == Param::Type::kBool) return i == 1;
  return p.values[i];
}

// `value` of `p` as the estimators see it (choice index, log).
double Coordinate(const Param& p, const nlohmann::json& value) {
  if (p.type == Param::Type::kChoice || p.type == Param::Type::kBool) {
    return static_cast<double>(ChoiceIndex(p, value));
  }
  double x = value.get<double>();
  return p.log ? std::log(x) : x;
}

// A coordinate of `p` back to a legal value (rounded).
nlohmann::json ValueAt(const Param& p, double x) {
  if (p.type == Param::Type::kChoice || p.type == Param::Type::kBool) {
    return ChoiceValue(p, static_cast<size_t>(x));
  }
  double v = p.log ? std::exp(x) : x;
  if (p.type == Param::Type::kInt) {
    return std::clamp(static_cast<int64_t>(std::llround(v)), static_cast<int64_t>(p.min),
                      static_cast<int64_t>(p.max));
  }
  return std::clamp(RoundSignificant(v), p.min, p.max);
}

class TpeProposer : public SearchProposer {
 public:
  explicit TpeProposer(const Spec& spec)
      : SearchProposer(spec),
        startup_(spec.proposer.options.value("startup", 10)),
        candidates_(spec.proposer.options.value("candidates", 24)),
        normalized_(spec.proposer.options.value("normalized_kernels", false)),
        multivariate_(spec.proposer.options.value("multivariate", true)),
        plateau_(spec.proposer.plateau) {}

 protected:
  nlohmann::json Mutate(const ProposalContext& ctx, const nlohmann::json& current,
                        std::mt19937_64& rng) override {
    std::vector<Observation> all = Observations(ctx, /*include_prior=*/true, current);
    // Constant liar: a config being measured counts as a bad one (with the
    // failed, in the upper group) until its result is in, so workers that
    // propose at once spread out instead of all drawing the same best guess.
    for (const HistoryEntry& e : ctx.pending) {
      if (!e.params.is_object()) continue;
      Observation lie;
      lie.seq = e.seq;
      lie.params = e.params;
      lie.failed = true;
      all.push_back(std::move(lie));
    }
    std::vector<const Observation*> done;
    std::vector<const Observation*> failed;
    for (const Observation& o : all) (o.failed ? failed : done).push_back(&o);

    if (static_cast<int>(done.size()) < startup_) return RandomConfig(space_, current, rng);

    // Split by loss (ties: older first), then keep each group in run order so
    // the weights favour recent observations as Optuna's do.
    std::vector<const Observation*> ranked = done;
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const Observation* a, const Observation* b) { return a->loss < b->loss; });
    size_t n_below = static_cast<size_t>(tpe::Gamma(static_cast<int>(ranked.size())));
    std::vector<const Observation*> below(ranked.begin(), ranked.begin() + n_below);
    std::vector<const Observation*> above(ranked.begin() + n_below, ranked.end());
    above.insert(above.end(), failed.begin(), failed.end());
    auto run_order = [&](std::vector<const Observation*>& group) {
      std::sort(group.begin(), group.end());  // pointers into `all` = run order
    };
    run_order(below);
    run_order(above);
    const int candidates = Candidates(ctx);
    if (multivariate_) return SampleJoint(current, below, above, all, candidates, rng);

    // A few draws, preferring one not measured before (a repeat would only
    // be recorded as a duplicate).
    nlohmann::json next;
    for (int attempt = 0; attempt < 8; ++attempt) {
      next = current;
      for (const Param* p : space_.AssignmentOrder()) {
        if (!space_.IsActive(*p, next)) continue;
        SetPath(next, p->name, SampleParam(*p, below, above, candidates, rng));
      }
      if (!Measured(space_, all, next)) break;
    }
    return next;
  }

 private:
  // The legal values of `p` in `group`, where p was active.
  std::vector<const nlohmann::json*> Values(const Param& p,
                                            const std::vector<const Observation*>& group) const {
    std::vector<const nlohmann::json*> out;
    for (const Observation* o : group) {
      if (!space_.IsActive(p, o->params)) continue;
      const nlohmann::json* v = GetPath(o->params, p.name);
      if (v != nullptr && space_.Contains(p, *v)) out.push_back(v);
    }
    return out;
  }

  nlohmann::json SampleParam(const Param& p, const std::vector<const Observation*>& below,
                             const std::vector<const Observation*>& above, int candidates,
                             std::mt19937_64& rng) const {
    std::vector<const nlohmann::json*> good = Values(p, below), bad = Values(p, above);
    std::vector<double> wg = tpe::DefaultWeights(static_cast<int>(good.size()));
    std::vector<double> wb = tpe::DefaultWeights(static_cast<int>(bad.size()));
    if (p.type == Param::Type::kChoice || p.type == Param::Type::kBool) {
      size_t n = p.type == Param::Type::kBool ? 2 : p.values.size();
      std::vector<size_t> g, b;
      for (const nlohmann::json* v : good) g.push_back(ChoiceIndex(p, *v));
      for (const nlohmann::json* v : bad) b.push_back(ChoiceIndex(p, *v));
      tpe::CategoricalEstimator l = tpe::FitCategorical(g, wg, n);
      tpe::CategoricalEstimator gx = tpe::FitCategorical(b, wb, n);
      size_t best = 0;
      double best_score = -std::numeric_limits<double>::infinity();
      for (int i = 0; i < candidates; ++i) {
        size_t c = l.Sample(rng);
        double score = l.LogPmf(c) - gx.LogPmf(c);
        if (score > best_score) best_score = score, best = c;
      }
      return ChoiceValue(p, best);
    }
    Scale s = ScaleOf(p);
    std::vector<double> g, b;
    for (const nlohmann::json* v : good) g.push_back(Coordinate(p, *v));
    for (const nlohmann::json* v : bad) b.push_back(Coordinate(p, *v));
    tpe::NumericEstimator l = tpe::FitNumeric(g, wg, s.low, s.high);
    tpe::NumericEstimator gx = tpe::FitNumeric(b, wb, s.low, s.high);
    l.width_weighted = gx.width_weighted = !normalized_;
    nlohmann::json best;
    double best_score = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < candidates; ++i) {
      nlohmann::json v = ValueAt(p, l.Sample(rng));
      double x = Coordinate(p, v);
      double score = l.LogPdf(x) - gx.LogPdf(x);
      if (best.is_null() || score > best_score) best_score = score, best = v;
    }
    return best;
  }

  // The space as the joint estimator's dimensions, in space_.params order.
  std::vector<tpe::Dimension> Dimensions() const {
    std::vector<tpe::Dimension> dims;
    for (const Param& p : space_.params) {
      tpe::Dimension d;
      if (p.type == Param::Type::kChoice || p.type == Param::Type::kBool) {
        d.categorical = true;
        d.n_choices = p.type == Param::Type::kBool ? 2 : p.values.size();
      } else {
        Scale s = ScaleOf(p);
        d.low = s.low;
        d.high = s.high;
      }
      dims.push_back(d);
    }
    return dims;
  }

  std::vector<tpe::Point> Points(const std::vector<const Observation*>& group) const {
    std::vector<tpe::Point> out;
    for (const Observation* o : group) {
      tpe::Point point(space_.params.size());
      for (size_t j = 0; j < space_.params.size(); ++j) {
        const Param& p = space_.params[j];
        if (!space_.IsActive(p, o->params)) continue;
        const nlohmann::json* v = GetPath(o->params, p.name);
        if (v != nullptr && space_.Contains(p, *v)) point[j] = Coordinate(p, *v);
      }
      out.push_back(point);
    }
    return out;
  }

  // Multivariate TPE: `candidates_` configurations, each drawn whole from one
  // component of l, the best by l(x)/g(x) over its active parameters; one
  // measured before is taken only when every candidate was.
  nlohmann::json SampleJoint(const nlohmann::json& current,
                             const std::vector<const Observation*>& below,
                             const std::vector<const Observation*>& above,
                             const std::vector<Observation>& all, int candidates,
                             std::mt19937_64& rng) const {
    const std::vector<tpe::Dimension> dims = Dimensions();
    tpe::JointEstimator l =
        tpe::FitJoint(dims, Points(below), tpe::DefaultWeights(static_cast<int>(below.size())));
    tpe::JointEstimator g =
        tpe::FitJoint(dims, Points(above), tpe::DefaultWeights(static_cast<int>(above.size())));
    l.width_weighted = g.width_weighted = !normalized_;
    std::map<const Param*, size_t> index;
    for (size_t j = 0; j < space_.params.size(); ++j) index[&space_.params[j]] = j;

    nlohmann::json best = current;
    double best_score = -std::numeric_limits<double>::infinity();
    bool best_seen = true;
    for (int i = 0; i < candidates; ++i) {
      const size_t k = l.PickComponent(rng);
      nlohmann::json next = current;
      std::vector<double> x(dims.size(), 0.0);
      std::vector<bool> use(dims.size(), false);
      for (const Param* p : space_.AssignmentOrder()) {
        if (!space_.IsActive(*p, next)) continue;
        const size_t j = index.at(p);
        nlohmann::json v = ValueAt(*p, l.Sample(k, j, rng));
        x[j] = Coordinate(*p, v);  // scored as rounded, as it will run
        use[j] = true;
        SetPath(next, p->name, v);
      }
      const bool seen = Measured(space_, all, next);
      const double score = l.LogPdf(x, use) - g.LogPdf(x, use);
      if ((best_seen && !seen) || (seen == best_seen && score > best_score)) {
        best = next, best_score = score, best_seen = seen;
      }
    }
    return best;
  }

  // The plateau response: after proposer.plateau experiments without an
  // accepted change, kPlateauCandidates times as many candidates are drawn,
  // so the pick follows l(x)/g(x) more closely. Plateaus here are mostly
  // the search being near a good config and its small gains drowning in
  // noise: on the toy bench exploiting harder lowered the median best @50 by
  // 8% (0.95 vs 1.03, mean of four 100-seed blocks), where widening l's
  // kernels raised it by 17-44% (bench/RESULTS.md, "Proposers").
  static constexpr int kPlateauCandidates = 4;

  bool OnPlateau(const ProposalContext& ctx) const {
    return plateau_ > 0 && ExperimentsSinceAccepted(ctx.history) >= plateau_;
  }
  int Candidates(const ProposalContext& ctx) const {
    return OnPlateau(ctx) ? candidates_ * kPlateauCandidates : candidates_;
  }

  std::string Note(const ProposalContext& ctx) const override {
    const int64_t since = ExperimentsSinceAccepted(ctx.history);
    if (since != plateau_) return "";  // once, when the plateau starts
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "%s: plateau, %lld experiments without an accepted change; candidates %d -> %d",
                  kind_.c_str(), static_cast<long long>(since), candidates_, Candidates(ctx));
    return buf;
  }

  const int startup_;
  const int candidates_;
  const bool normalized_;
  const bool multivariate_;
  const int plateau_;
};

}  // namespace

std::unique_ptr<Proposer> MakeTpeProposer(const Spec& spec) {
  return std::make_unique<TpeProposer>(spec);
}

}  // namespace ratchet

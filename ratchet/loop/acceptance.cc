#include "ratchet/loop/acceptance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace ratchet {
namespace {

// Continued fraction of the regularized incomplete beta function
// (modified Lentz's method), valid for x < (a + 1) / (a + b + 2).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < 1e-15) break;
  }
  return h;
}

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * BetaContinuedFraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

// P(T > t) for Student's t with `dof` degrees of freedom, t >= 0.
double StudentTUpperTail(double t, double dof) {
  double x = dof / (dof + t * t);
  return 0.5 * RegularizedIncompleteBeta(dof / 2.0, 0.5, x);
}

std::string Format(double value) {
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

// Rounds of fresh measurements a confirm decision may take: a second one for
// an improvement beyond the sanity bound or an inconclusive test.
constexpr int kMaxRounds = 2;

// The numbers every confirm verdict on fresh measurements carries.
nlohmann::json FreshNumbers(const AcceptanceRule& rule, const std::vector<double>& best,
                            const std::vector<double>& fresh, double best_mean, double fresh_mean,
                            double improvement) {
  return {{"rule", "confirm"},         {"best_mean", best_mean},   {"best_n", best.size()},
          {"fresh_mean", fresh_mean},  {"fresh_n", fresh.size()}, {"improvement", improvement},
          {"min_delta", rule.min_delta}};
}

// True when the first and every fresh measurement (at least two), each under
// its own seed, agree to 1e-12 relative while the run's repeats vary (noise sd
// > 0): the candidate does not let the seed reach its result, so its
// "improvement" is one lucky draw repeated, however consistent it looks.
bool IgnoresTheSeed(const Verdict& gate, const std::vector<double>& fresh, const Noise& noise) {
  if (fresh.size() < 2 || noise.sd <= 0 || !gate.numbers.contains("first")) return false;
  const double first = gate.numbers["first"].get<double>();
  for (double v : fresh) {
    if (std::fabs(v - first) > 1e-12 * std::max(std::fabs(v), std::fabs(first))) return false;
  }
  return true;
}

}  // namespace

double Mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return values.empty() ? std::numeric_limits<double>::quiet_NaN() : sum / values.size();
}

double StudentTUpperQuantile(double p, double dof) {
  // Bisection on the monotone upper tail; 200 halvings reach double precision.
  double lo = 0.0;
  double hi = 1e6;
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    if (StudentTUpperTail(mid, dof) > p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

Noise PooledNoise(const std::vector<std::vector<double>>& groups,
                  const std::vector<double>& extra) {
  double squares = 0.0;
  int dof = 0;
  auto pool = [&](const std::vector<double>& group) {
    if (group.size() < 2) return;
    double mean = Mean(group);
    for (double v : group) squares += (v - mean) * (v - mean);
    dof += static_cast<int>(group.size()) - 1;
  };
  for (const auto& group : groups) pool(group);
  pool(extra);
  Noise noise;
  noise.dof = dof;
  noise.sd = dof > 0 ? std::sqrt(squares / dof) : 0.0;
  return noise;
}

double Improvement(Goal goal, double best, double candidate) {
  return goal == Goal::kMinimize ? best - candidate : candidate - best;
}

double ConfirmGate(const Noise& noise, size_t best_n) {
  if (noise.dof <= 0 || noise.sd <= 0 || best_n == 0) return 0.0;
  return noise.sd * std::sqrt(1.0 + 1.0 / static_cast<double>(best_n));
}

Verdict DecideFirst(const AcceptanceRule& rule, const std::vector<double>& best,
                    double first_measurement, const Noise& noise) {
  double best_mean = Mean(best);
  double improvement = Improvement(rule.goal, best_mean, first_measurement);
  Verdict verdict;
  verdict.numbers = {{"best_mean", best_mean},
                     {"best_n", best.size()},
                     {"first", first_measurement},
                     {"improvement", improvement},
                     {"min_delta", rule.min_delta}};
  switch (rule.policy) {
    case Policy::kStrict:
      verdict.numbers["rule"] = "strict";
      verdict.kind = improvement > 0 ? Verdict::Kind::kAccept : Verdict::Kind::kReject;
      verdict.reason = improvement > 0 ? "better than the best (" + Format(improvement) + ")"
                                       : "not better than the best";
      return verdict;
    case Policy::kThreshold:
      verdict.numbers["rule"] = "threshold";
      if (improvement > 0 && improvement >= rule.min_delta) {
        verdict.kind = Verdict::Kind::kAccept;
        verdict.reason = "improved by " + Format(improvement) + " >= min_delta " +
                         Format(rule.min_delta);
      } else {
        verdict.kind = Verdict::Kind::kReject;
        verdict.reason = "improvement " + Format(improvement) + " below min_delta " +
                         Format(rule.min_delta);
      }
      return verdict;
    case Policy::kConfirm: {
      double gate = ConfirmGate(noise, best.size());
      verdict.numbers["rule"] = "confirm";
      verdict.numbers["gate"] = gate;
      verdict.numbers["gate_sd"] = noise.sd;
      verdict.numbers["noise_dof"] = noise.dof;
      std::string gate_text = gate > 0 ? "the gate " + Format(gate) + " (1 noise sd " +
                                             Format(noise.sd) + " x sqrt(1 + 1/" +
                                             std::to_string(best.size()) + "))"
                                       : "the gate 0 (no noise estimate)";
      if (improvement <= 0) {
        verdict.kind = Verdict::Kind::kReject;
        verdict.reason = "first measurement not better than the best (" +
                         Format(improvement) + ")";
      } else if (improvement < rule.min_delta) {
        verdict.kind = Verdict::Kind::kReject;
        verdict.reason = "first measurement improves by " + Format(improvement) +
                         ", below min_delta " + Format(rule.min_delta);
      } else if (improvement < gate) {
        verdict.kind = Verdict::Kind::kReject;
        verdict.reason = "first measurement improves by " + Format(improvement) + ", below " +
                         gate_text + "; not re-measured";
      } else {
        verdict.kind = Verdict::Kind::kMeasureMore;
        verdict.reason = "looks better by " + Format(improvement) + " >= " + gate_text +
                         "; re-measuring";
      }
      return verdict;
    }
  }
  return verdict;
}

Verdict DecideFresh(const AcceptanceRule& rule, const std::vector<double>& best,
                    const Verdict& gate, const std::vector<double>& fresh, const Noise& noise,
                    int repeats) {
  repeats = std::max(1, repeats);
  bool round_complete = fresh.size() % static_cast<size_t>(repeats) == 0;
  Verdict verdict;
  const bool ignores_seed = IgnoresTheSeed(gate, fresh, noise);
  if (ignores_seed) {
    const double best_mean = Mean(best), fresh_mean = Mean(fresh);
    verdict.numbers = FreshNumbers(rule, best, fresh, best_mean, fresh_mean,
                                   Improvement(rule.goal, best_mean, fresh_mean));
    verdict.numbers["noise_sd"] = noise.sd;
    verdict.kind = Verdict::Kind::kReject;
    verdict.reason = "ignores the seed: the first and " + std::to_string(fresh.size()) +
                     " fresh measurements, each under its own seed, are all " +
                     Format(fresh_mean) + ", while the run's repeats vary (noise sd " +
                     Format(noise.sd) + ")";
  } else if (round_complete) {
    verdict = DecideConfirm(rule, best, fresh, noise, static_cast<int>(fresh.size()) / repeats);
  } else {
    double best_mean = Mean(best);
    double fresh_mean = Mean(fresh);
    double improvement = Improvement(rule.goal, best_mean, fresh_mean);
    verdict.numbers = FreshNumbers(rule, best, fresh, best_mean, fresh_mean, improvement);
    if (improvement > 0) {
      verdict.kind = Verdict::Kind::kMeasureMore;
      verdict.reason = "fresh mean better by " + Format(improvement) + " after " +
                       std::to_string(fresh.size()) + "; re-measuring";
    } else {
      // The t-test needs a positive mean improvement; with the remaining
      // measurements drawn from the same distribution it would rarely get one.
      verdict.kind = Verdict::Kind::kReject;
      verdict.reason = "not confirmed: futility stop after " + std::to_string(fresh.size()) +
                       " of " + std::to_string(repeats) + " fresh measurements, mean " +
                       Format(fresh_mean) + " no better than the best's " + Format(best_mean);
    }
  }
  verdict.numbers["ignores_seed"] = ignores_seed;
  verdict.numbers["futility_stop"] =
      verdict.kind == Verdict::Kind::kReject && !round_complete && !ignores_seed;
  verdict.numbers["repeats"] = repeats;
  verdict.numbers["rounds"] = (fresh.size() + repeats - 1) / repeats;  // begun
  for (const char* key : {"first", "gate", "gate_sd"}) {
    if (gate.numbers.contains(key)) verdict.numbers[key] = gate.numbers[key];
  }
  return verdict;
}

Verdict DecideConfirm(const AcceptanceRule& rule, const std::vector<double>& best,
                      const std::vector<double>& fresh, const Noise& noise, int rounds_taken) {
  double best_mean = Mean(best);
  double fresh_mean = Mean(fresh);
  double improvement = Improvement(rule.goal, best_mean, fresh_mean);
  double standard_error =
      noise.sd * std::sqrt(1.0 / static_cast<double>(best.size()) + 1.0 / fresh.size());
  // Without an estimate of the noise (dof 0) nothing can be confirmed beyond it;
  // a noise-free metric (sd 0) makes any real improvement significant.
  double t = standard_error > 0 ? improvement / standard_error
                                : (improvement > 0 ? std::numeric_limits<double>::infinity() : 0);
  double t_crit = noise.dof > 0 ? StudentTUpperQuantile(rule.alpha, noise.dof)
                                : std::numeric_limits<double>::infinity();
  Verdict verdict;
  verdict.numbers = FreshNumbers(rule, best, fresh, best_mean, fresh_mean, improvement);
  verdict.numbers.update({{"noise_sd", noise.sd},
                          {"noise_dof", noise.dof},
                          {"t", std::isfinite(t) ? t : 1e300},
                          {"t_crit", std::isfinite(t_crit) ? t_crit : 1e300},
                          {"alpha", rule.alpha}});
  bool significant = noise.dof > 0 && t > t_crit;
  bool large_enough = improvement > 0 && improvement >= rule.min_delta;
  if (significant && large_enough && rule.max_improvement && improvement > *rule.max_improvement &&
      rounds_taken < kMaxRounds) {
    verdict.kind = Verdict::Kind::kMeasureMore;
    verdict.reason = "improvement " + Format(improvement) + " exceeds the sanity bound " +
                     Format(*rule.max_improvement) + "; re-measuring before believing it";
    return verdict;
  }
  if (!significant && large_enough && noise.dof > 0 && rule.extend_above > 0 &&
      t > rule.extend_above * t_crit && rounds_taken < kMaxRounds) {
    verdict.kind = Verdict::Kind::kMeasureMore;
    verdict.reason = "inconclusive: t=" + Format(t) + " <= " + Format(t_crit) + " but above " +
                     Format(rule.extend_above) + " of it; one more round of fresh measurements";
    return verdict;
  }
  if (significant && large_enough) {
    verdict.kind = Verdict::Kind::kAccept;
    verdict.reason = "confirmed: " + Format(improvement) + " better on " +
                     std::to_string(fresh.size()) + " fresh measurements, t=" + Format(t) +
                     " > " + Format(t_crit);
  } else {
    verdict.kind = Verdict::Kind::kReject;
    if (!large_enough) {
      verdict.reason = "not confirmed: fresh measurements improve by " + Format(improvement);
    } else if (noise.dof == 0) {
      verdict.reason = "not confirmed: no noise estimate (calibration needs >= 2 repeats)";
    } else {
      verdict.reason = "not confirmed: t=" + Format(t) + " <= " + Format(t_crit) +
                       " (within the noise, sd " + Format(noise.sd) + ")";
    }
  }
  return verdict;
}

}  // namespace ratchet

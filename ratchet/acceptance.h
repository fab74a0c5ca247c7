// Acceptance: when does a measured candidate really beat the best?
//
// A plain "lower is better" accepts noise. The loop measures a candidate once;
// only when that first measurement beats the best does the policy decide
// what happens next:
//   strict     accept on that single measurement.
//   threshold  accept when it improves on the best by at least min_delta.
//   confirm    re-measure with fresh seeds, then accept only when the fresh
//              measurements alone (the first one was selected for looking
//              good, so it is biased) beat the best's unbiased measurements by
//              a one-sided Welch-style t-test at level alpha, with the noise
//              pooled from every group of repeats seen in the run (the
//              calibration repeats of the baseline at first), and by at least
//              min_delta.
// Every decision carries the numbers it was made on, so `ratchet show N`
// can explain it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ratchet {

enum class Goal { kMinimize, kMaximize };
enum class Policy { kStrict, kThreshold, kConfirm };

struct AcceptanceRule {
  Policy policy = Policy::kConfirm;
  Goal goal = Goal::kMinimize;
  double min_delta = 0.0;
  double alpha = 0.01;  // one-sided false-accept rate of the confirm test
  // An improvement larger than this is re-measured before it is believed.
  std::optional<double> max_improvement;
};

// The noise of the metric, pooled over groups of repeated measurements of
// one configuration: sum of squared deviations from each group's mean over
// the total degrees of freedom.
struct Noise {
  double sd = 0.0;
  int dof = 0;
};
Noise PooledNoise(const std::vector<std::vector<double>>& groups);

// Signed improvement of `candidate` over `best`: positive is better.
double Improvement(Goal goal, double best, double candidate);

struct Verdict {
  enum class Kind { kReject, kAccept, kMeasureMore };
  Kind kind = Kind::kReject;
  std::string reason;       // one line, for logs and `ratchet show`
  nlohmann::json numbers;   // everything the decision used
};

// Called after the candidate's first measurement.
// `best` holds the best's unbiased measurements (REQUIRES: non-empty).
Verdict DecideFirst(const AcceptanceRule& rule, const std::vector<double>& best,
                    double first_measurement);

// confirm only: called with the fresh re-measurements of a candidate whose
// first measurement looked better. `noise` is pooled over the run.
// `extra_rounds` is how many re-measurement rounds were already taken; a
// suspiciously large improvement asks for one more round (kMeasureMore).
Verdict DecideConfirm(const AcceptanceRule& rule, const std::vector<double>& best,
                      const std::vector<double>& fresh, const Noise& noise, int rounds_taken);

// Upper quantile of Student's t: P(T > t) = p with `dof` degrees of freedom.
double StudentTUpperQuantile(double p, double dof);

double Mean(const std::vector<double>& values);

}  // namespace ratchet

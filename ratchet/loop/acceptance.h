// Acceptance: when does a measured candidate really beat the best?
//
// A plain "lower is better" accepts noise. The loop measures a candidate once
// and the policy decides on that first measurement (DecideFirst):
//   strict     accept when it is better than the best's mean.
//   threshold  accept when it improves on the best's mean by at least min_delta.
//   confirm    re-measure only when it improves on the best's mean by at least
//              min_delta and by the gate: one pooled noise sd x sqrt(1 + 1/n),
//              n the number of the best's unbiased measurements (the sd of the
//              difference between one measurement and a mean of n, so an
//              unchanged candidate passes about 16% of the time, not 50%).
//              Without a noise estimate (dof 0) or with sd 0 the gate is 0.
// confirm then takes `repeats` fresh-seed measurements one at a time
// (DecideFresh). After each one, while more are due, it stops and rejects as
// soon as the mean of the fresh ones is no better than the best's mean (the
// futility stop: the test below needs a better fresh mean, and the remaining
// measurements rarely turn it round). With all `repeats` in,
// the decision (DecideConfirm) looks only at the fresh measurements (the first
// one was selected for looking good, so it is biased): their mean must beat
// the best's unbiased measurements in a one-sided t-test at level alpha, with
// the noise pooled from every group of repeats seen in the run (the
// calibration repeats of the baseline at first) plus the fresh ones, and by
// at least min_delta. An improvement beyond max_improvement takes one more
// round of `repeats` before it is believed, and so does an inconclusive one:
// t short of the critical t but above extend_above of it. A real improvement
// of two or three noise sds often lands there after one round (the test sees
// only `repeats` fresh measurements); the second round, tested on all fresh
// ones, accepts most of them, while a no-change candidate rarely gets that far
// (measured on the A/A and search benches, bench/RESULTS.md).
// A candidate whose first and fresh measurements (two or more fresh) are all
// the same to 1e-12 relative although each had its own seed, while the run's
// repeats vary, is rejected as soon as that shows: it "ignores the seed"
// (a trainer pinned to one lucky seed repeats one draw, which a t-test would
// take for a consistent gain). A noise-free run (sd 0, e.g. a deterministic
// kernel bench) is not affected.
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
  // confirm: a first round whose t falls short of the critical t but above
  // this fraction of it takes a second round (0: never).
  double extend_above = 0.5;
};

// The noise of the metric, pooled over groups of repeated measurements of
// one configuration: sum of squared deviations from each group's mean over
// the total degrees of freedom.
struct Noise {
  double sd = 0.0;
  int dof = 0;
};
// `extra`, when given, pools as one more group (a candidate's fresh
// measurements while they come in), without copying `groups`.
Noise PooledNoise(const std::vector<std::vector<double>>& groups,
                  const std::vector<double>& extra = {});

// Signed improvement of `candidate` over `best`: positive is better.
double Improvement(Goal goal, double best, double candidate);

struct Verdict {
  enum class Kind { kReject, kAccept, kMeasureMore };
  Kind kind = Kind::kReject;
  std::string reason;       // one line, for logs and `ratchet show`
  nlohmann::json numbers;   // everything the decision used
};

// The confirm gate: how much better than the best's mean (of `best_n`
// measurements) a first measurement must be to be re-measured. 0 without a
// noise estimate.
double ConfirmGate(const Noise& noise, size_t best_n);

// Called after the candidate's first measurement.
// `best` holds the best's unbiased measurements (REQUIRES: non-empty).
// `noise` is pooled over the run's groups of repeats; only confirm uses it.
Verdict DecideFirst(const AcceptanceRule& rule, const std::vector<double>& best,
                    double first_measurement, const Noise& noise);

// confirm only: called after each fresh measurement of a candidate that
// DecideFirst sent to re-measurement (`gate` is that verdict; its first
// measurement and gate are copied into the numbers). `fresh` holds the fresh
// measurements so far (REQUIRES: non-empty), `noise` is pooled over the run's
// groups and `fresh`, `repeats` (>= 1) is the size of one round. Returns
// kMeasureMore while the round is incomplete and the fresh mean is better
// than the best's, a futility reject when it is not, and DecideConfirm's
// verdict at the end of each round.
Verdict DecideFresh(const AcceptanceRule& rule, const std::vector<double>& best,
                    const Verdict& gate, const std::vector<double>& fresh, const Noise& noise,
                    int repeats);

// confirm only: the t-test on the fresh re-measurements of a candidate.
// `noise` is pooled over the run. `rounds_taken` is how many re-measurement
// rounds were already taken; a suspiciously large or an inconclusive
// improvement asks for one more round (kMeasureMore) while rounds_taken < 2.
Verdict DecideConfirm(const AcceptanceRule& rule, const std::vector<double>& best,
                      const std::vector<double>& fresh, const Noise& noise, int rounds_taken);

// Upper quantile of Student's t: P(T > t) = p with `dof` degrees of freedom.
double StudentTUpperQuantile(double p, double dof);

double Mean(const std::vector<double>& values);

}  // namespace ratchet

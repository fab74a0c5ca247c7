// `tpe`: the tree-structured Parzen estimator of Bergstra et al. (2011), as
// Optuna's TPESampler does it (prior kernel on, magic clip on, endpoints
// off), written here. Every measured configuration of the run (and of earlier
// runs of the same spec on the same hardware with `--warm-start`) is split by
// loss into the best gamma(n) = min(ceil(n/10), 25) ("below") and the rest
// ("above", plus crashed and timed-out configs); a density l(x) is fitted to
// the below configs and g(x) to the above ones, `candidates` configs are drawn
// from l, and the one maximising l(x)/g(x) is taken. Before `startup`
// measured configurations it samples uniformly, like `random`.
//
// By default the densities are joint over all parameters (multivariate=True
// in Optuna, tpe_multivariate.h): on the toy bench it finds better configs
// in fewer experiments than the independent one (bench/RESULTS.md,
// "Proposers"). With proposer.multivariate = false each active parameter gets
// its own l and g (this file's estimators, Optuna's default).
//
// Plateaus: after proposer.plateau experiments without an accepted change it
// draws four times the candidates (TpeProposer::kPlateauCandidates).
//
// Scales: log parameters live in log space; an int is a continuous value on
// [min - 0.5, max + 0.5] rounded after sampling (Optuna discretizes the
// kernels instead; the ranking of candidates is the same up to rounding).
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace ratchet::tpe {

// How many of n observations form the "below" (good) group: min(ceil(0.1 n), 25).
int Gamma(int n);

// Optuna's default_weights: n ones when n < 25, otherwise a ramp from 1/n to 1
// over the oldest n - 25 observations, then 25 ones (recent ones count more).
std::vector<double> DefaultWeights(int n);

// A mixture of normal kernels truncated to [low, high]: one per observation
// plus the prior kernel (mean the middle, sigma the whole range, weight 1).
//
// width_weighted (the default, as Optuna 3.1's _truncnorm.logpdf computes
// it): each kernel's density is taken without its 1/sigma factor, so wide
// kernels count more than narrow ones and the "density" integrates to the
// weighted mean sigma instead of 1. On the toy this explores better than the
// normalised mixture (bench/RESULTS.md, "Proposers"); the spec key
// proposer.normalized_kernels = true selects the normalised one.
struct NumericEstimator {
  double low = 0, high = 1;
  std::vector<double> weights;  // sum to 1; the prior's is last
  std::vector<double> mus, sigmas;
  bool width_weighted = true;

  double LogPdf(double x) const;
  double Sample(std::mt19937_64& rng) const;
};

// log(sum(exp(terms))), computed without overflow.
double LogSumExp(const std::vector<double>& terms);

// One kernel: log density at x of N(mu, sigma) truncated to [low, high],
// without the 1/sigma factor when width_weighted.
double KernelLogPdf(double x, double mu, double sigma, double low, double high,
                    bool width_weighted);

// A draw from N(mu, sigma) truncated to [low, high]. REQUIRES: mu in range.
double SampleKernel(double mu, double sigma, double low, double high, std::mt19937_64& rng);

// `observations` in [low, high], oldest first, with their weights (same size).
// REQUIRES: low < high.
NumericEstimator FitNumeric(const std::vector<double>& observations,
                            const std::vector<double>& weights, double low, double high);

// Per-choice probabilities: each observation is a kernel putting 1 +
// 1/n_kernels on its choice and 1/n_kernels elsewhere (normalised), the prior
// kernel is uniform; kernels mixed with the observation weights and the prior.
struct CategoricalEstimator {
  std::vector<double> probs;  // one per choice, sum to 1

  double LogPmf(size_t choice) const;
  size_t Sample(std::mt19937_64& rng) const;
};

CategoricalEstimator FitCategorical(const std::vector<size_t>& observations,
                                    const std::vector<double>& weights, size_t n_choices);

}  // namespace ratchet::tpe

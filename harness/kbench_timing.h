// Timing a kernel on the benchmark problems, in a child process: warm-up,
// then samples (one call each) until both a minimum count and a minimum time
// are reached, caches flushed before each sample for memory-bound types;
// median and spread per problem. The same code times a library (OpenBLAS
// sgemm) on the same problems so the candidate can be compared with it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "harness/kbench_types.h"

namespace ratchet::kbench {

struct TimingOptions {
  double warmup_seconds = 0.1;  // At least one call.
  int min_samples = 5;
  double min_seconds = 0.3;  // Sum of the samples.
  // A slow kernel stops sampling here (keeping >= 2 samples when it can),
  // so one evaluation stays short.
  double max_seconds = 2.0;
  int max_samples = 1000;
  bool flush_caches = false;
};
// Fewer, shorter samples: for tests and smoke runs.
TimingOptions QuickTiming();

struct Stats {
  int samples = 0;
  double median = 0;  // Seconds per call.
  double min = 0;
  // Interquartile range over the median: 0.02 means the middle half of the
  // samples lie within 2% of the median's size.
  double spread = 0;
};
// REQUIRES: !seconds.empty().
Stats Summarize(std::vector<double> seconds);

// Takes samples of call() per the options; flush() (may be empty) runs,
// untimed, before each sample when options.flush_caches. Returns wall
// seconds per call; `cpu_seconds`, when given, receives the CPU seconds the
// process spent in each call (all its threads): on a shared machine time
// spent descheduled is not the kernel's, so a single-threaded kernel's CPU
// time is a steadier measure of its speed than wall time.
//
// `checks`, when given, runs untimed around every sample: prepare(sample)
// before the flush (fresh inputs, a poisoned output), verify(sample) after
// the call; a verify that returns a reason (not "") stops the sampling and
// leaves the reason in checks->failure.
struct SampleChecks {
  std::function<void(int sample)> prepare;
  std::function<std::string(int sample)> verify;
  std::string failure;
};
std::vector<double> Sample(const std::function<void()>& call, const std::function<void()>& flush,
                           const TimingOptions& options,
                           std::vector<double>* cpu_seconds = nullptr,
                           SampleChecks* checks = nullptr);

// CPU seconds used by this process so far (all threads).
double ProcessCpuSeconds();

// Evicts [p, p + bytes) from every cache level (clflush where available).
void FlushFromCaches(const void* p, size_t bytes);

// Calls one problem once; built in the child, after loading what it calls.
using Caller = std::function<void(const Problem&, const std::vector<const float*>&, float*)>;
// Returns an empty Caller and sets *error when loading fails.
using CallerFactory = std::function<Caller(std::string* error)>;

struct ProblemTiming {
  Stats stats;      // Wall time per call.
  Stats cpu_stats;  // CPU time per call (all threads of the timing child).
  Floats output;    // What the last call wrote (to be checked by the parent).
};

struct TimingResult {
  bool ok = false;
  std::string error;                    // One line when !ok: "crashed: killed by SIGSEGV on M=...".
  std::vector<ProblemTiming> problems;  // One per bench problem when ok.
};

// Runs in a child: builds the caller, then times each problem on its inputs.
TimingResult TimeInChild(const KernelType& type, const std::vector<Problem>& problems,
                         const std::vector<std::vector<Floats>>& inputs,
                         const CallerFactory& factory, const TimingOptions& options,
                         bool keep_outputs, double timeout_seconds);

// A caller for the candidate's shared object.
CallerFactory KernelCaller(const KernelType& type, const std::filesystem::path& shared_object,
                           int threads);
// A caller for OpenBLAS cblas_sgemm (matmul only), loaded with dlopen.
CallerFactory BlasMatmulCaller(int threads);

// The OpenBLAS kernel BlasMatmulCaller will run, made fit for this CPU as
// ratchet-train does (trainer/blas_core.h): a pre-AVX2 fallback is replaced
// by setting OPENBLAS_CORETYPE in this process, before any child loads the
// library. A user's OPENBLAS_CORETYPE is kept. OpenBLAS's own choice is asked
// of a short-lived child, so this process never loads a BLAS. "" when
// OpenBLAS cannot be loaded.
std::string PrepareBlasCore(double timeout_seconds);

}  // namespace ratchet::kbench

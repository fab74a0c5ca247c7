#include "harness/kbench.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "harness/kbench_check.h"
#include "harness/kbench_compile.h"
#include "harness/kbench_peak.h"
#include "harness/kbench_timing.h"
#include "harness/kbench_types.h"
#include "base/error.h"
#include "base/fs.h"

namespace ratchet::kbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A private folder for one candidate's build, removed on every exit path.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ratchet-kbench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw Error(ErrnoMessage(pattern, "cannot create the build folder"));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Four significant digits keep the one-line report readable.
json Round(double x) {
  if (!std::isfinite(x)) return nullptr;
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", x);
  return std::strtod(text, nullptr);
}

double GeometricMean(const std::vector<double>& values) {
  double log_sum = 0;
  for (double v : values) log_sum += std::log(v);
  return std::exp(log_sum / values.size());
}

// The 1-minute load average: timings on a busy machine are slow and noisy,
// and the report should say so.
double LoadAverage() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

json Fail(json report, const std::string& error) {
  report["correct"] = false;
  report["error"] = error;
  return report;
}

// The timed outputs must be right too: every element finite, sampled rows
// against the reference, so a kernel cannot be fast only by being wrong on
// the big shapes.
std::string SpotCheck(const KernelType& type, const std::vector<Problem>& problems,
                      const std::vector<std::vector<Floats>>& inputs,
                      const std::vector<ProblemTiming>& timed) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const std::string wrong =
        WrongOutput(type, problems[i], Pointers(inputs[i]), timed[i].output.data(),
                    SampleRows(type.Rows(problems[i]), 24, 7 + i));
    if (!wrong.empty()) return "bench " + type.Describe(problems[i]) + ": " + wrong;
  }
  return "";
}

// A correct compute-bound kernel cannot run faster than the FMA units allow;
// one that does is not computing what it is timed on. The margin covers a
// measured peak a little below the true one (a busy machine, turbo).
constexpr double kPlausibleOverPeak = 1.5;

std::string BeyondPeak(const KernelType& type, const std::vector<Problem>& problems,
                       const std::vector<ProblemTiming>& timed, double peak_gflops) {
  for (size_t i = 0; i < problems.size(); ++i) {
    const double fastest = type.Work(problems[i]) / timed[i].stats.min / 1e9;
    if (fastest > kPlausibleOverPeak * peak_gflops) {
      char text[256];
      std::snprintf(text, sizeof text,
                    "timing: %s: %.4g GFLOP/s on its fastest call is implausible, beyond %.2gx "
                    "this machine's FP32 FMA peak of %.4g GFLOP/s",
                    type.Describe(problems[i]).c_str(), fastest, kPlausibleOverPeak, peak_gflops);
      return text;
    }
  }
  return "";
}

}  // namespace

json RunKbench(const KbenchOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const KernelType* type = FindKernelType(options.type);
  if (type == nullptr) {
    throw Error("ratchet-kbench: unknown --type \"" + options.type +
                "\" (known: " + KernelTypeNames() + ")");
  }
  json report = {{"type", options.type}, {"threads", options.threads}};
  if (options.quick) report["quick"] = true;
  report["loadavg"] = Round(LoadAverage());

  // 1. Compile, with the bench's flags and the tunables as -D values.
  Defines defines;
  if (!options.defines.empty()) {
    try {
      defines = ParseDefines(ReadFile(options.defines), options.defines.string());
    } catch (const Error& e) {
      return Fail(report, e.what());
    }
  }
  if (!fs::is_regular_file(options.source)) {
    return Fail(report, options.source.string() + ": no such kernel source");
  }
  TempDir temp;
  CompileRequest request;
  request.compiler = options.compiler;
  request.source = options.source;
  request.defines = defines;
  request.work_dir = temp.path();
  request.timeout_seconds = options.compile_timeout_seconds;
  const CompileResult compiled = CompileKernel(request);
  report["compile_seconds"] = Round(compiled.seconds);
  if (!compiled.ok) return Fail(report, "compile: " + compiled.first_error);

  // 2. Correctness: smoke, sweep, adversarial, determinism.
  const std::vector<CheckCase> plan = PlanChecks(*type);
  const ChecksResult checks = RunChecks(*type, plan, compiled.shared_object, options.threads,
                                        options.check_timeout_seconds);
  json cases = json::array();
  for (const CaseReport& c : checks.cases) {
    json row = {{"stage", c.stage},
                {"shape", c.shape},
                {"inputs", c.inputs},
                {"max_error", Round(c.max_error)},
                {"tolerance", Round(c.tolerance)},
                {"ok", c.ok}};
    if (!c.failure.empty()) row["failure"] = c.failure;
    cases.push_back(row);
  }
  report["checks"] = cases;
  if (!checks.ok) return Fail(report, checks.error);

  // 3. Timing on the bench problems, then the library on the same inputs.
  const std::vector<Problem> problems = type->Bench();
  std::vector<std::vector<Floats>> inputs(problems.size());
  for (size_t i = 0; i < problems.size(); ++i) {
    type->Fill(problems[i], Inputs::kNormal, 77 + i, inputs[i]);
  }
  TimingOptions timing = options.quick ? QuickTiming() : TimingOptions{};
  timing.flush_caches = type->MemoryBound();
  const TimingResult timed = TimeInChild(
      *type, problems, inputs, KernelCaller(*type, compiled.shared_object, options.threads), timing,
      /*keep_outputs=*/true, options.timing_timeout_seconds);
  if (!timed.ok) return Fail(report, "timing: " + timed.error);
  const std::string wrong = SpotCheck(*type, problems, inputs, timed.problems);
  if (!wrong.empty()) return Fail(report, wrong);
  int timed_calls = 0;
  for (const ProblemTiming& t : timed.problems) timed_calls += t.stats.samples;
  report["timed_calls_checked"] = timed_calls;
  if (type->MetricKey() == "gflops") {
    const double peak = options.fma_peak_gflops > 0 ? options.fma_peak_gflops
                                                    : MeasureFmaPeakGflops(options.threads);
    report["fma_peak_gflops"] = Round(peak);
    const std::string implausible = BeyondPeak(*type, problems, timed.problems, peak);
    if (!implausible.empty()) return Fail(report, implausible);
  }

  TimingResult blas;
  const bool with_blas = options.blas && type->Name() == "matmul";
  if (with_blas) {
    report["blas_core"] = PrepareBlasCore(options.timing_timeout_seconds);
    blas = TimeInChild(*type, problems, inputs, BlasMatmulCaller(options.threads), timing,
                       /*keep_outputs=*/false, options.timing_timeout_seconds);
    if (!blas.ok) report["blas_error"] = blas.error;
  }

  const std::string key(type->MetricKey());
  json bench = json::array();
  std::vector<double> rates, blas_rates, cpu_rates, blas_cpu_rates;
  double worst_spread = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    const Stats& s = timed.problems[i].stats;
    const double rate = type->Work(problems[i]) / s.median / 1e9;
    rates.push_back(rate);
    worst_spread = std::max(worst_spread, s.spread);
    json row = {{"shape", type->Describe(problems[i])},
                {key, Round(rate)},
                {"median_seconds", Round(s.median)},
                {"spread", Round(s.spread)},
                {"samples", s.samples}};
    const Stats& cpu = timed.problems[i].cpu_stats;
    if (cpu.samples > 0 && cpu.median > 0) {
      cpu_rates.push_back(type->Work(problems[i]) / cpu.median / 1e9);
      row[key + "_cpu"] = Round(cpu_rates.back());
    }
    if (with_blas && blas.ok) {
      const double blas_rate = type->Work(problems[i]) / blas.problems[i].stats.median / 1e9;
      blas_rates.push_back(blas_rate);
      row["blas_" + key] = Round(blas_rate);
      const Stats& blas_cpu = blas.problems[i].cpu_stats;
      if (blas_cpu.samples > 0 && blas_cpu.median > 0) {
        blas_cpu_rates.push_back(type->Work(problems[i]) / blas_cpu.median / 1e9);
        row["blas_" + key + "_cpu"] = Round(blas_cpu_rates.back());
      }
    }
    bench.push_back(row);
  }
  report["bench"] = bench;
  report["correct"] = true;
  report[key] = Round(GeometricMean(rates));
  report["spread"] = Round(worst_spread);
  if (!blas_rates.empty()) {
    report["blas_" + key] = Round(GeometricMean(blas_rates));
    report["ratio_to_blas"] = Round(GeometricMean(rates) / GeometricMean(blas_rates));
  }
  // CPU-time rates: steadier than wall time on a shared machine (see
  // kbench.h), present only when every problem has them.
  if (cpu_rates.size() == problems.size()) {
    report[key + "_cpu"] = Round(GeometricMean(cpu_rates));
    if (blas_cpu_rates.size() == problems.size()) {
      report["blas_" + key + "_cpu"] = Round(GeometricMean(blas_cpu_rates));
      report["cpu_ratio_to_blas"] = Round(GeometricMean(cpu_rates) / GeometricMean(blas_cpu_rates));
    }
  }
  report["seconds"] =
      Round(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return report;
}

}  // namespace ratchet::kbench

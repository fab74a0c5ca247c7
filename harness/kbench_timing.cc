#include "harness/kbench_timing.h"

#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "harness/kbench_check.h"
#include "harness/kbench_child.h"
#include "trainer/blas_core.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ratchet::kbench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Quantile(const std::vector<double>& sorted, double q) {
  const double at = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

// Rows of each timed call's output compared with the reference (besides the
// first and the last, and every element's finiteness).
constexpr int kRowsPerTimedCall = 4;

// Untimed, around every timed call, so that the kernel must compute each one
// in full: fresh random inputs, alternately in the bench's buffers and in a
// second set at other addresses (a cache keyed by address, shape or a few
// elements returns a stale result); the output poisoned with NaN before (an
// element left unwritten stays NaN); after it, every element finite and
// sampled rows, chosen only then and seeded from the OS, against the
// reference.
class FreshInputs {
 public:
  FreshInputs(const KernelType& type, const Problem& p, const std::vector<Floats>& bench_inputs,
              Floats& out)
      : type_(type), p_(p), out_(out), rng_(std::random_device{}()) {
    sets_[0] = bench_inputs;
    type.Fill(p, Inputs::kNormal, rng_(), sets_[1]);
    in_[0] = Pointers(sets_[0]);
    in_[1] = Pointers(sets_[1]);
  }
  const std::vector<const float*>& in() const { return in_[current_]; }

  void Prepare(int sample) {
    current_ = sample % 2;
    type_.Fill(p_, Inputs::kNormal, rng_(), sets_[current_]);  // same sizes: same addresses
    std::fill(out_.begin(), out_.end(), std::numeric_limits<float>::quiet_NaN());
  }

  std::string Verify(int sample) {
    const std::string wrong = WrongOutput(type_, p_, in(), out_.data(),
                                          SampleRows(type_.Rows(p_), kRowsPerTimedCall, rng_()));
    if (wrong.empty()) return "";
    return "timed call " + std::to_string(sample + 1) + " (fresh inputs): " + wrong;
  }

  // Evicts the inputs the next call reads and the output.
  void Flush() const {
    for (const Floats& v : sets_[current_]) {
      kbench::FlushFromCaches(v.data(), v.size() * sizeof(float));
    }
    kbench::FlushFromCaches(out_.data(), out_.size() * sizeof(float));
  }

  // Back to the bench's own inputs, for the final call the parent checks.
  void Restore(const std::vector<Floats>& bench_inputs) {
    current_ = 0;
    for (size_t k = 0; k < bench_inputs.size(); ++k) {
      std::copy(bench_inputs[k].begin(), bench_inputs[k].end(), sets_[0][k].begin());
    }
    std::fill(out_.begin(), out_.end(), std::numeric_limits<float>::quiet_NaN());
  }

 private:
  const KernelType& type_;
  const Problem& p_;
  Floats& out_;
  std::mt19937_64 rng_;
  std::vector<Floats> sets_[2];
  std::vector<const float*> in_[2];
  int current_ = 0;
};

int ChildBody(int fd, const KernelType& type, const std::vector<Problem>& problems,
              const std::vector<std::vector<Floats>>& inputs, const CallerFactory& factory,
              const TimingOptions& options, bool keep_outputs) {
  std::string error;
  const Caller caller = factory(&error);
  if (!caller) {
    WriteRecord(fd, kRecordError, 0, error.data(), error.size());
    return 3;
  }
  for (size_t i = 0; i < problems.size(); ++i) {
    const Problem& p = problems[i];
    Floats out(type.OutputSize(p), 0.0f);
    FreshInputs fresh(type, p, inputs[i], out);
    const auto flush = [&] { fresh.Flush(); };
    SampleChecks checks;
    checks.prepare = [&](int sample) { fresh.Prepare(sample); };
    checks.verify = [&](int sample) { return fresh.Verify(sample); };
    std::vector<double> cpu;
    const std::vector<double> samples =
        Sample([&] { caller(p, fresh.in(), out.data()); }, flush, options, &cpu, &checks);
    if (!checks.failure.empty()) {
      WriteRecord(fd, kRecordWrongOutput, static_cast<uint32_t>(i), checks.failure.data(),
                  checks.failure.size());
      return 6;
    }
    if (!WriteRecord(fd, kRecordSamples, static_cast<uint32_t>(i), samples.data(),
                     samples.size() * sizeof(double)) ||
        !WriteRecord(fd, kRecordCpuSamples, static_cast<uint32_t>(i), cpu.data(),
                     cpu.size() * sizeof(double))) {
      return 5;
    }
    if (keep_outputs) {  // one more call, on the bench's inputs, checked by the parent
      fresh.Restore(inputs[i]);
      caller(p, fresh.in(), out.data());
      if (!WriteRecord(fd, kRecordOutput, static_cast<uint32_t>(i), out.data(),
                       out.size() * sizeof(float))) {
        return 5;
      }
    }
  }
  return 0;
}

}  // namespace

TimingOptions QuickTiming() {
  TimingOptions o;
  o.warmup_seconds = 0;
  o.min_samples = 2;
  o.min_seconds = 0;
  o.max_seconds = 0.5;
  return o;
}

Stats Summarize(std::vector<double> seconds) {
  std::sort(seconds.begin(), seconds.end());
  Stats s;
  s.samples = static_cast<int>(seconds.size());
  s.min = seconds.front();
  s.median = Quantile(seconds, 0.5);
  s.spread = s.median > 0 ? (Quantile(seconds, 0.75) - Quantile(seconds, 0.25)) / s.median : 0;
  return s;
}

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::vector<double> Sample(const std::function<void()>& call, const std::function<void()>& flush,
                           const TimingOptions& options, std::vector<double>* cpu_seconds,
                           SampleChecks* checks) {
  // Warm-up: page faults, lazy binding, thread pools, frequency ramp.
  const Clock::time_point warm_start = Clock::now();
  do {
    call();
  } while (Seconds(warm_start, Clock::now()) < options.warmup_seconds);

  std::vector<double> samples;
  double total = 0;
  while (static_cast<int>(samples.size()) < options.max_samples) {
    const bool enough =
        static_cast<int>(samples.size()) >= options.min_samples && total >= options.min_seconds;
    const bool too_slow = samples.size() >= 2 && total >= options.max_seconds;
    if (enough || too_slow) break;
    const int sample = static_cast<int>(samples.size());
    if (checks && checks->prepare) checks->prepare(sample);
    if (options.flush_caches && flush) flush();
    const double cpu_start = cpu_seconds ? ProcessCpuSeconds() : 0;
    const Clock::time_point start = Clock::now();
    call();
    const double s = Seconds(start, Clock::now());
    if (cpu_seconds) cpu_seconds->push_back(ProcessCpuSeconds() - cpu_start);
    samples.push_back(s);
    total += s;
    if (checks && checks->verify) {
      checks->failure = checks->verify(sample);
      if (!checks->failure.empty()) break;
    }
  }
  return samples;
}

void FlushFromCaches(const void* p, size_t bytes) {
#if defined(__x86_64__) || defined(__i386__)
  const char* c = static_cast<const char*>(p);
  for (size_t i = 0; i < bytes; i += 64) _mm_clflush(c + i);
  if (bytes > 0) _mm_clflush(c + bytes - 1);
  _mm_mfence();
#else
  (void)p;
  (void)bytes;
#endif
}

TimingResult TimeInChild(const KernelType& type, const std::vector<Problem>& problems,
                         const std::vector<std::vector<Floats>>& inputs,
                         const CallerFactory& factory, const TimingOptions& options,
                         bool keep_outputs, double timeout_seconds) {
  const ChildOutcome outcome = RunInChild(
      [&](int fd) { return ChildBody(fd, type, problems, inputs, factory, options, keep_outputs); },
      timeout_seconds);
  TimingResult result;
  result.problems.resize(problems.size());
  std::vector<bool> timed(problems.size(), false), output(problems.size(), !keep_outputs);
  std::string child_error;
  for (const Record& r : ParseRecords(outcome.output)) {
    if (r.tag == kRecordError) child_error = std::string(r.payload);
    if (r.tag == kRecordWrongOutput && r.index < problems.size()) {
      child_error = type.Describe(problems[r.index]) + ": " + std::string(r.payload);
    }
    if (r.index >= problems.size()) continue;
    if (r.tag == kRecordSamples && r.payload.size() >= sizeof(double)) {
      std::vector<double> samples(r.payload.size() / sizeof(double));
      std::memcpy(samples.data(), r.payload.data(), samples.size() * sizeof(double));
      result.problems[r.index].stats = Summarize(samples);
      timed[r.index] = true;
    } else if (r.tag == kRecordCpuSamples && r.payload.size() >= sizeof(double)) {
      std::vector<double> samples(r.payload.size() / sizeof(double));
      std::memcpy(samples.data(), r.payload.data(), samples.size() * sizeof(double));
      result.problems[r.index].cpu_stats = Summarize(samples);
    } else if (r.tag == kRecordOutput &&
               r.payload.size() == type.OutputSize(problems[r.index]) * sizeof(float)) {
      Floats& out = result.problems[r.index].output;
      out.resize(type.OutputSize(problems[r.index]));
      std::memcpy(out.data(), r.payload.data(), r.payload.size());
      output[r.index] = true;
    }
  }
  for (size_t i = 0; i < problems.size(); ++i) {
    if (timed[i] && output[i]) continue;
    if (!child_error.empty()) {
      result.error = child_error;
    } else {
      result.error = outcome.DescribeFailure() + " while timing " + type.Describe(problems[i]);
    }
    return result;
  }
  result.ok = outcome.Succeeded();
  if (!result.ok) result.error = "timing child " + outcome.Describe() + " after its last problem";
  return result;
}

CallerFactory KernelCaller(const KernelType& type, const std::filesystem::path& shared_object,
                           int threads) {
  return [&type, shared_object, threads](std::string* error) -> Caller {
    void* entry = LoadEntry(shared_object, type.Symbol(), error);
    if (entry == nullptr) return {};
    return [&type, entry, threads](const Problem& p, const std::vector<const float*>& in,
                                   float* out) { type.Call(entry, p, in, out, threads); };
  };
}

CallerFactory BlasMatmulCaller(int threads) {
  return [threads](std::string* error) -> Caller {
    // Loaded only in the child: the bench itself never starts BLAS threads,
    // and a missing library costs the comparison, not the run.
    void* lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      *error = std::string("cannot load OpenBLAS: ") + dlerror();
      return {};
    }
    using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                           int, float, float*, int);
    using SetThreads = void (*)(int);
    auto sgemm = reinterpret_cast<Sgemm>(dlsym(lib, "cblas_sgemm"));
    auto set_threads = reinterpret_cast<SetThreads>(dlsym(lib, "openblas_set_num_threads"));
    if (sgemm == nullptr) {
      *error = "OpenBLAS has no cblas_sgemm";
      return {};
    }
    if (set_threads != nullptr) set_threads(threads);
    return [sgemm](const Problem& p, const std::vector<const float*>& in, float* out) {
      constexpr int kRowMajor = 101, kNoTrans = 111;  // cblas.h enum values.
      const int M = p.dims[0], N = p.dims[1], K = p.dims[2];
      sgemm(kRowMajor, kNoTrans, kNoTrans, M, N, K, 1.0f, in[0], K, in[1], N, 0.0f, out, N);
    };
  };
}

std::string PrepareBlasCore(double timeout_seconds) {
  if (const char* chosen = std::getenv("OPENBLAS_CORETYPE")) return chosen;
  const ChildOutcome probe = RunInChild(
      [](int write_fd) {
        void* lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        using Corename = char* (*)();
        auto corename =
            lib ? reinterpret_cast<Corename>(dlsym(lib, "openblas_get_corename")) : nullptr;
        if (corename == nullptr) return 1;
        const std::string name = corename();
        return write(write_fd, name.data(), name.size()) == static_cast<ssize_t>(name.size()) ? 0
                                                                                              : 1;
      },
      timeout_seconds);
  if (!probe.Succeeded() || probe.output.empty()) return "";
  const char* better = train::BetterBlasCoreHere(probe.output.c_str());
  if (*better == '\0') return probe.output;
  setenv("OPENBLAS_CORETYPE", better, 1);
  return better;
}

}  // namespace ratchet::kbench

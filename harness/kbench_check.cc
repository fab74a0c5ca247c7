#include "harness/kbench_check.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <set>

namespace ratchet::kbench {
namespace {

constexpr int kGuard = 64;                    // Floats of guard zone on each side of an output.
constexpr uint32_t kGuardBits = 0x7fe5a5a5u;  // A quiet NaN no arithmetic produces.
// What the output holds before each call: unwritten elements show up as
// non-finite (first call) or as a difference between calls.
constexpr uint32_t kPrefillBits[] = {0x7fc0deadu, 0x00000000u, 0x3f800000u};

std::string Format(const char* fmt, double a, double b = 0) {
  char text[128];
  std::snprintf(text, sizeof text, fmt, a, b);
  return text;
}

void FillBits(float* p, int64_t n, uint32_t bits) {
  const float f = std::bit_cast<float>(bits);
  std::fill(p, p + n, f);
}

bool AllBits(const float* p, int64_t n, uint32_t bits) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::bit_cast<uint32_t>(p[i]) != bits) return false;
  }
  return true;
}

// The child's work: call the kernel for every case, send each output back.
int ChildBody(int fd, const KernelType& type, const std::vector<CheckCase>& plan,
              const std::filesystem::path& shared_object, int threads) {
  std::string error;
  void* entry = LoadEntry(shared_object, type.Symbol(), &error);
  if (entry == nullptr) {
    WriteRecord(fd, kRecordError, 0, error.data(), error.size());
    return 3;
  }
  for (size_t c = 0; c < plan.size(); ++c) {
    const CheckCase& check = plan[c];
    // Work on copies so a kernel that writes into its inputs is caught.
    const std::vector<Floats> work = check.in;
    const std::vector<const float*> in = Pointers(work);
    const int64_t n = type.OutputSize(check.problem);
    Floats out(n + 2 * kGuard);
    std::vector<char> message(sizeof(OutputHeader) + n * sizeof(float));
    for (int call = 0; call < check.calls; ++call) {
      FillBits(out.data(), kGuard, kGuardBits);
      FillBits(out.data() + kGuard + n, kGuard, kGuardBits);
      FillBits(out.data() + kGuard, n, kPrefillBits[call % 3]);
      type.Call(entry, check.problem, in, out.data() + kGuard, threads);
      OutputHeader header{static_cast<uint32_t>(call), 0};
      if (!AllBits(out.data(), kGuard, kGuardBits) ||
          !AllBits(out.data() + kGuard + n, kGuard, kGuardBits)) {
        header.flags |= kFlagWroteOutside;
      }
      for (size_t i = 0; i < work.size(); ++i) {
        if (std::memcmp(work[i].data(), check.in[i].data(), work[i].size() * sizeof(float)) != 0) {
          header.flags |= kFlagInputsModified;
        }
      }
      std::memcpy(message.data(), &header, sizeof header);
      std::memcpy(message.data() + sizeof header, out.data() + kGuard, n * sizeof(float));
      if (!WriteRecord(fd, kRecordOutput, static_cast<uint32_t>(c), message.data(),
                       message.size())) {
        return 5;
      }
    }
  }
  return 0;
}

std::string CaseName(const KernelType& type, const CheckCase& check) {
  std::string name = check.stage + " " + type.Describe(check.problem);
  if (check.inputs != Inputs::kNormal) name += " (" + std::string(InputsName(check.inputs)) + ")";
  return name;
}

}  // namespace

std::vector<CheckCase> PlanChecks(const KernelType& type) {
  std::vector<CheckCase> plan;
  plan.push_back({"smoke", type.Smoke(), Inputs::kNormal, 1, {}});
  for (const Problem& p : type.Sweep()) plan.push_back({"sweep", p, Inputs::kNormal, 1, {}});
  for (const AdversarialCase& a : type.Adversarial()) {
    plan.push_back({"adversarial", a.problem, a.inputs, 1, {}});
  }
  for (const Problem& p : type.Determinism()) {
    plan.push_back({"determinism", p, Inputs::kNormal, 3, {}});
  }
  for (size_t i = 0; i < plan.size(); ++i) {
    type.Fill(plan[i].problem, plan[i].inputs, 1000 + i, plan[i].in);
  }
  return plan;
}

double RelativeTolerance(const KernelType& type, const Problem& p, Inputs inputs) {
  return type.Tolerance(p) * (inputs == Inputs::kNormal ? 1 : 100);
}

double AbsoluteTolerance(Inputs inputs) { return inputs == Inputs::kDenormal ? 1e-30 : 0; }

Comparison Compare(const KernelType& type, const Problem& p, Inputs inputs,
                   const std::vector<const float*>& in, const float* out,
                   const std::vector<int64_t>& rows) {
  const double rtol = RelativeTolerance(type, p, inputs);
  const double atol = AbsoluteTolerance(inputs);
  const int64_t n_rows = type.Rows(p);
  const int64_t row_len = n_rows == 0 ? 0 : type.OutputSize(p) / n_rows;
  std::vector<double> ref(row_len), scale(row_len);
  Comparison result;
  auto check_row = [&](int64_t r) {
    type.Reference(p, in, r, ref.data(), scale.data());
    for (int64_t j = 0; j < row_len; ++j) {
      const float got = out[r * row_len + j];
      const double diff = std::fabs(got - ref[j]);
      const double denominator = scale[j] + atol / rtol;
      double error = denominator > 0 ? diff / denominator : (diff == 0 ? 0 : INFINITY);
      if (!std::isfinite(got) && std::isfinite(ref[j])) error = INFINITY;
      if (!(error <= result.max_error)) {
        result.max_error = error;
        if (!(error <= rtol) && result.ok) {
          result.ok = false;
          char text[256];
          std::snprintf(text, sizeof text, "%s at row %lld, column %lld: got %.9g, expected %.9g",
                        std::isfinite(got) ? "wrong value" : "non-finite output",
                        static_cast<long long>(r), static_cast<long long>(j),
                        static_cast<double>(got), ref[j]);
          result.failure = text;
        }
      }
    }
  };
  if (rows.empty()) {
    for (int64_t r = 0; r < n_rows; ++r) check_row(r);
  } else {
    for (int64_t r : rows) check_row(r);
  }
  if (!result.ok) {
    result.failure += Format(" (error %.3g > tolerance %.3g)", result.max_error, rtol);
  }
  return result;
}

std::vector<int64_t> SampleRows(int64_t rows, int count, uint64_t seed) {
  std::set<int64_t> picked;
  if (rows <= 0) return {};
  picked.insert(0);
  picked.insert(rows - 1);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) picked.insert(static_cast<int64_t>(rng() % rows));
  return {picked.begin(), picked.end()};
}

std::string WrongOutput(const KernelType& type, const Problem& p,
                        const std::vector<const float*>& in, const float* out,
                        const std::vector<int64_t>& rows) {
  const int64_t n = type.OutputSize(p);
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(out[j])) {
      return "non-finite or unwritten output at element " + std::to_string(j);
    }
  }
  const Comparison c = Compare(type, p, Inputs::kNormal, in, out, rows);
  return c.ok ? "" : c.failure;
}

std::vector<const float*> Pointers(const std::vector<Floats>& in) {
  std::vector<const float*> p;
  for (const Floats& v : in) p.push_back(v.data());
  return p;
}

ChecksResult JudgeChecks(const KernelType& type, const std::vector<CheckCase>& plan,
                         const ChildOutcome& outcome) {
  ChecksResult result;
  std::string child_error;
  // outputs[c][call]: the floats the child sent.
  std::vector<std::vector<std::pair<uint32_t, std::string_view>>> outputs(plan.size());
  for (const Record& record : ParseRecords(outcome.output)) {
    if (record.tag == kRecordError) child_error = std::string(record.payload);
    if (record.tag != kRecordOutput || record.index >= plan.size()) continue;
    if (record.payload.size() < sizeof(OutputHeader)) continue;
    OutputHeader header;
    std::memcpy(&header, record.payload.data(), sizeof header);
    outputs[record.index].emplace_back(header.flags, record.payload.substr(sizeof header));
  }

  result.ok = true;
  for (size_t c = 0; c < plan.size(); ++c) {
    const CheckCase& check = plan[c];
    CaseReport report;
    report.stage = check.stage;
    report.shape = type.Describe(check.problem);
    report.inputs = InputsName(check.inputs);
    report.tolerance = RelativeTolerance(type, check.problem, check.inputs);
    const auto& calls = outputs[c];
    const size_t bytes = type.OutputSize(check.problem) * sizeof(float);
    if (calls.size() < static_cast<size_t>(check.calls) || calls.back().second.size() != bytes) {
      // The child stopped in this case (or before it, when it could not start).
      if (!result.ok) break;  // An earlier failure already explains the stop.
      report.ran = true;
      if (!child_error.empty()) {
        report.failure = child_error;
      } else {
        report.failure = outcome.DescribeFailure();
      }
      result.cases.push_back(report);
      result.ok = false;
      result.error = (child_error.empty() ? CaseName(type, check) + ": " : "") + report.failure;
      break;
    }
    report.ran = true;
    std::vector<float> first(type.OutputSize(check.problem));
    std::memcpy(first.data(), calls[0].second.data(), bytes);
    const Comparison comparison =
        Compare(type, check.problem, check.inputs, Pointers(check.in), first.data());
    report.ok = comparison.ok;
    report.max_error = comparison.max_error;
    report.failure = comparison.failure;
    for (size_t call = 0; call < calls.size() && report.failure.empty(); ++call) {
      if (calls[call].first & kFlagWroteOutside) report.failure = "wrote outside its output";
      if (calls[call].first & kFlagInputsModified) report.failure = "modified its inputs";
    }
    for (size_t call = 1; call < calls.size() && report.failure.empty(); ++call) {
      if (calls[call].second != calls[0].second) {
        report.failure = "non-deterministic: call " + std::to_string(call + 1) +
                         " gave different bits than call 1";
      }
    }
    report.ok = report.failure.empty();
    if (!report.ok && result.ok) {
      result.ok = false;
      result.error = CaseName(type, check) + ": " + report.failure;
    }
    result.cases.push_back(report);
  }
  if (result.ok && !outcome.Succeeded()) {
    result.ok = false;
    result.error = "checks child " + outcome.Describe() + " after its last case";
  }
  return result;
}

ChecksResult RunChecks(const KernelType& type, const std::vector<CheckCase>& plan,
                       const std::filesystem::path& shared_object, int threads,
                       double timeout_seconds) {
  const ChildOutcome outcome = RunInChild(
      [&](int fd) { return ChildBody(fd, type, plan, shared_object, threads); }, timeout_seconds);
  return JudgeChecks(type, plan, outcome);
}

}  // namespace ratchet::kbench

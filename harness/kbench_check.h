// Correctness of a candidate kernel: the plan of checks (smoke, shape sweep,
// adversarial inputs, determinism), running them in a child, and judging the
// outputs against the double-precision reference in the parent. The child
// only calls the kernel and sends its outputs back; every verdict is made
// outside the candidate's process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/kbench_child.h"
#include "harness/kbench_types.h"

namespace ratchet::kbench {

struct CheckCase {
  std::string stage;  // "smoke", "sweep", "adversarial" or "determinism".
  Problem problem;
  Inputs inputs = Inputs::kNormal;
  int calls = 1;  // > 1: the outputs of every call must be bitwise equal.
  std::vector<Floats> in;
};

// Every check of the type, in order, with its inputs filled.
std::vector<CheckCase> PlanChecks(const KernelType& type);

// Relative tolerance: the type's for normal inputs, 100x for adversarial ones.
double RelativeTolerance(const KernelType& type, const Problem& p, Inputs inputs);
// Absolute slack: only subnormal inputs get some (a kernel may flush them).
double AbsoluteTolerance(Inputs inputs);

struct Comparison {
  bool ok = true;
  // max over elements of |out - ref| / (scale + atol / rtol); inf when an
  // output is not finite where the reference is.
  double max_error = 0;
  std::string failure;  // Where and how it failed; "" when ok.
};
// Compares out with the reference on `rows` (every row when empty).
Comparison Compare(const KernelType& type, const Problem& p, Inputs inputs,
                   const std::vector<const float*>& in, const float* out,
                   const std::vector<int64_t>& rows = {});

// First, last and `count` more rows drawn from seed (sorted, distinct).
std::vector<int64_t> SampleRows(int64_t rows, int count, uint64_t seed);

// Why a timed output is wrong, or "": an element not finite (unwritten, in a
// NaN-poisoned output), else `rows` against the reference on normal inputs.
std::string WrongOutput(const KernelType& type, const Problem& p,
                        const std::vector<const float*>& in, const float* out,
                        const std::vector<int64_t>& rows);

// The arrays' data pointers, as kernels take them.
std::vector<const float*> Pointers(const std::vector<Floats>& in);

struct CaseReport {
  std::string stage, shape, inputs;
  bool ran = false;
  bool ok = false;
  double max_error = 0;
  double tolerance = 0;
  std::string failure;
};

struct ChecksResult {
  bool ok = false;
  std::string error;  // The first failure, one line; "" when ok.
  std::vector<CaseReport> cases;
};

// Runs the plan in a child that loads `shared_object`, killed after
// timeout_seconds, and judges the outputs.
ChecksResult RunChecks(const KernelType& type, const std::vector<CheckCase>& plan,
                       const std::filesystem::path& shared_object, int threads,
                       double timeout_seconds);

// The parent's half, separated for tests: judges what a child sent.
ChecksResult JudgeChecks(const KernelType& type, const std::vector<CheckCase>& plan,
                         const ChildOutcome& outcome);

}  // namespace ratchet::kbench

#include "harness/kbench_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace ratchet::kbench {
namespace {

const KernelType& Matmul() { return *FindKernelType("matmul"); }

// The exact product of `in`, rounded to float.
Floats Exact(const KernelType& type, const Problem& p, const std::vector<Floats>& in) {
  std::vector<const float*> ptrs;
  for (const Floats& v : in) ptrs.push_back(v.data());
  const int64_t rows = type.Rows(p), len = type.OutputSize(p) / rows;
  Floats out(type.OutputSize(p));
  std::vector<double> ref(len), scale(len);
  for (int64_t r = 0; r < rows; ++r) {
    type.Reference(p, ptrs, r, ref.data(), scale.data());
    for (int64_t j = 0; j < len; ++j) out[r * len + j] = static_cast<float>(ref[j]);
  }
  return out;
}

std::vector<const float*> Ptrs(const std::vector<Floats>& in) {
  std::vector<const float*> p;
  for (const Floats& v : in) p.push_back(v.data());
  return p;
}

TEST(KbenchCheck, EveryTypeIsKnownByName) {
  for (const char* name : {"matmul", "softmax", "rmsnorm", "layernorm", "attention", "rope"}) {
    const KernelType* type = FindKernelType(name);
    ASSERT_NE(type, nullptr) << name;
    EXPECT_EQ(type->Symbol(), std::string("kernel_") + name);
    EXPECT_GE(type->Sweep().size(), 8u) << name;
    EXPECT_FALSE(type->Bench().empty()) << name;
  }
  EXPECT_EQ(FindKernelType("conv"), nullptr);
}

TEST(KbenchCheck, TheRoundedReferencePasses) {
  for (const char* name : {"matmul", "softmax", "rmsnorm", "layernorm", "attention", "rope"}) {
    const KernelType& type = *FindKernelType(name);
    for (const CheckCase& c : PlanChecks(type)) {
      const Floats out = Exact(type, c.problem, c.in);
      const Comparison r = Compare(type, c.problem, c.inputs, Ptrs(c.in), out.data());
      EXPECT_TRUE(r.ok) << name << " " << type.Describe(c.problem) << ": " << r.failure;
    }
  }
}

TEST(KbenchCheck, OneWrongElementFailsAndIsLocated) {
  const Problem p{{7, 13, 17}};
  std::vector<Floats> in;
  Matmul().Fill(p, Inputs::kNormal, 1, in);
  Floats out = Exact(Matmul(), p, in);
  out[2 * 13 + 5] += 0.01f;
  const Comparison r = Compare(Matmul(), p, Inputs::kNormal, Ptrs(in), out.data());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("row 2, column 5"), std::string::npos) << r.failure;
}

TEST(KbenchCheck, NanOutputFailsEvenWhereTheToleranceIsLoose) {
  const Problem p{{33, 47, 129}};
  std::vector<Floats> in;
  Matmul().Fill(p, Inputs::kLarge, 1, in);
  Floats out = Exact(Matmul(), p, in);
  out[100] = NAN;
  const Comparison r = Compare(Matmul(), p, Inputs::kLarge, Ptrs(in), out.data());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(std::isinf(r.max_error));
  EXPECT_NE(r.failure.find("non-finite"), std::string::npos) << r.failure;
}

TEST(KbenchCheck, MatmulToleranceGrowsWithTheDepth) {
  EXPECT_LT(Matmul().Tolerance({{8, 8, 16}}), Matmul().Tolerance({{8, 8, 4096}}));
  // Yet it stays below the error of one dropped term (about 1/K of sum |a*b|).
  EXPECT_LT(Matmul().Tolerance({{8, 8, 4096}}), 1.0 / 4096);
}

TEST(KbenchCheck, AdversarialTolerancesAreLooserButFinite) {
  const Problem p{{33, 47, 129}};
  const double normal = RelativeTolerance(Matmul(), p, Inputs::kNormal);
  const double large = RelativeTolerance(Matmul(), p, Inputs::kLarge);
  EXPECT_GT(large, normal);
  EXPECT_LT(large, 1e-2);
}

TEST(KbenchCheck, SampledRowsIncludeTheFirstAndLastAndAreDistinct) {
  const std::vector<int64_t> rows = SampleRows(4096, 24, 3);
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows.front(), 0);
  EXPECT_EQ(rows.back(), 4095);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_LT(rows[i - 1], rows[i]);
}

TEST(KbenchCheck, PlanCoversSmokeSweepAdversarialAndDeterminism) {
  const std::vector<CheckCase> plan = PlanChecks(*FindKernelType("softmax"));
  int sweep = 0, adversarial = 0, repeated = 0;
  for (const CheckCase& c : plan) {
    sweep += c.stage == "sweep";
    adversarial += c.stage == "adversarial";
    repeated += c.calls > 1;
  }
  EXPECT_EQ(plan.front().stage, "smoke");
  EXPECT_GE(sweep, 8);
  EXPECT_GE(adversarial, 3);
  EXPECT_GE(repeated, 1);
}

}  // namespace
}  // namespace ratchet::kbench

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct AttnCase {
  int B, T, C, NH;
};

struct AttnRun {
  std::vector<float> out, att, dqkv;
};

enum class Impl { kNaive, kFast, kBf16 };

AttnRun RunAttention(Impl impl, const AttnCase& k, const std::vector<float>& qkv,
                     const std::vector<float>& dout) {
  const size_t BT = size_t(k.B) * k.T;
  // Under bf16, att holds the probabilities rounded (as many bf16 values).
  const size_t att_size = impl == Impl::kBf16 ? attention_bf16_probs_size(k.B, k.T, k.NH) / 2
                                              : size_t(k.B) * k.NH * k.T * k.T;
  AttnRun r{std::vector<float>(BT * k.C), std::vector<float>(att_size, -7.0f),
            std::vector<float>(BT * 3 * k.C, 0.5f)};
  if (impl == Impl::kBf16) {
    auto* probs = reinterpret_cast<uint16_t*>(r.att.data());
    attention_forward_bf16(r.out.data(), probs, qkv.data(), k.B, k.T, k.C, k.NH);
    attention_backward_bf16(r.dqkv.data(), dout.data(), qkv.data(), r.out.data(), probs, k.B, k.T,
                            k.C, k.NH);
    return r;
  }
  const auto forward = impl == Impl::kNaive ? ref::attention_forward : attention_forward;
  const auto backward = impl == Impl::kNaive ? ref::attention_backward : attention_backward;
  forward(r.out.data(), r.att.data(), qkv.data(), k.B, k.T, k.C, k.NH);
  backward(r.dqkv.data(), dout.data(), qkv.data(), r.att.data(), k.B, k.T, k.C, k.NH);
  return r;
}

class AttentionTest : public ::testing::TestWithParam<AttnCase> {};

// The part of att that attention_forward defines: each row's probabilities
// over [0, t] and the kAttentionZeros zeros after them.
std::vector<float> DefinedPart(const std::vector<float>& att, const AttnCase& k) {
  std::vector<float> out;
  for (int bh = 0; bh < k.B * k.NH; bh++) {
    for (int t = 0; t < k.T; t++) {
      const float* row = att.data() + (size_t(bh) * k.T + t) * k.T;
      out.insert(out.end(), row, row + std::min(k.T, t + 1 + kAttentionZeros));
    }
  }
  return out;
}

TEST_P(AttentionTest, FastMatchesNaive) {
  const AttnCase k = GetParam();
  const auto qkv = RandomVector(size_t(k.B) * k.T * 3 * k.C, 1, 1.5f);
  const auto dout = RandomVector(size_t(k.B) * k.T * k.C, 2);
  const AttnRun fast = RunAttention(Impl::kFast, k, qkv, dout);
  const AttnRun naive = RunAttention(Impl::kNaive, k, qkv, dout);
  EXPECT_TRUE(AllClose(DefinedPart(fast.att, k), DefinedPart(naive.att, k), 1e-5, 1e-6));
  EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fast.dqkv, naive.dqkv, 1e-4, 1e-5));
}

TEST_P(AttentionTest, ProbabilitiesAreCausalRowsSummingToOne) {
  const AttnCase k = GetParam();
  const auto qkv = RandomVector(size_t(k.B) * k.T * 3 * k.C, 3, 2.0f);
  const auto dout = RandomVector(size_t(k.B) * k.T * k.C, 4);
  const AttnRun fast = RunAttention(Impl::kFast, k, qkv, dout);
  for (int bh = 0; bh < k.B * k.NH; bh++) {
    for (int t = 0; t < k.T; t++) {
      const float* row = fast.att.data() + (size_t(bh) * k.T + t) * k.T;
      double sum = 0;
      for (int u = 0; u < k.T; u++) {
        if (u > t + kAttentionZeros) {  // not read: untouched or zero
          ASSERT_TRUE(row[u] == -7.0f || row[u] == 0.0f) << row[u] << " at " << u << ", row " << t;
        } else if (u > t) {
          ASSERT_EQ(row[u], 0.0f) << "future position " << u << " at " << t;
        } else {
          sum += row[u];
        }
      }
      ASSERT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

// FP32 and (where the CPU has it) bf16.
TEST_P(AttentionTest, IsDeterministicAndThreadCountInvariant) {
  const AttnCase k = GetParam();
  const auto qkv = RandomVector(size_t(k.B) * k.T * 3 * k.C, 5);
  const auto dout = RandomVector(size_t(k.B) * k.T * k.C, 6);
  for (Impl impl : {Impl::kFast, Impl::kBf16}) {
    if (impl == Impl::kBf16 && !Bf16Supported()) continue;
    AttnRun r[3];
    const int threads[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
      WithThreads(threads[i], [&] { r[i] = RunAttention(impl, k, qkv, dout); });
    }
    for (int i = 1; i < 3; i++) {
      EXPECT_TRUE(BitwiseEqual(r[0].out, r[i].out));
      EXPECT_TRUE(BitwiseEqual(r[0].att, r[i].att));
      EXPECT_TRUE(BitwiseEqual(r[0].dqkv, r[i].dqkv));
    }
  }
}

std::vector<float> Rounded(const std::vector<float>& x) {
  std::vector<float> r(x.size());
  round_to_bf16(r.data(), x.data(), x.size());
  return r;
}

// Largest |a - b| over the largest |b|: an error on the tensor's own scale.
double ScaledError(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); i++) {
    err = std::max(err, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return err / scale;
}

float RoundedValue(double x) {
  const float f = static_cast<float>(x);
  float r;
  round_to_bf16(&r, &f, 1);
  return r;
}

// Naive attention at the bf16 kernels' rounding points: every product's
// operands rounded to bf16 (q, k, v, dout, and p and ds), sums in double,
// from the probabilities att of the naive FP32 attention on rounded inputs;
// ds = round(p) * (dp - sum(round(p) * dp)) * scale, as the kernels keep p
// rounded.
AttnRun NaiveBf16Products(const AttnCase& k, const std::vector<float>& qkv,
                          const std::vector<float>& dout, const std::vector<float>& att) {
  const int T = k.T, C = k.C, hs = C / k.NH;
  const double scale = 1.0 / std::sqrt(double(hs));
  const std::vector<float> x = Rounded(qkv), dy = Rounded(dout);
  AttnRun r{std::vector<float>(size_t(k.B) * T * C), att, std::vector<float>(qkv.size())};
  for (int b = 0; b < k.B; b++) {
    for (int h = 0; h < k.NH; h++) {
      auto at = [&](int t, int part, int d) {
        return size_t(b * T + t) * 3 * C + part * C + h * hs + d;
      };
      auto dy_at = [&](int t, int d) { return size_t(b * T + t) * C + h * hs + d; };
      const float* p = att.data() + size_t(b * k.NH + h) * T * T;
      for (int t = 0; t < T; t++) {
        std::vector<double> dp(t + 1);
        double dot = 0;
        for (int s = 0; s <= t; s++) {
          for (int d = 0; d < hs; d++) dp[s] += double(dy[dy_at(t, d)]) * x[at(s, 2, d)];
          dot += double(RoundedValue(p[t * T + s])) * dp[s];
        }
        for (int s = 0; s <= t; s++) {
          const double pr = RoundedValue(p[t * T + s]);
          const double ds = RoundedValue(pr * (dp[s] - dot) * scale);
          for (int d = 0; d < hs; d++) {
            r.out[dy_at(t, d)] += pr * x[at(s, 2, d)];
            r.dqkv[at(s, 2, d)] += pr * dy[dy_at(t, d)];
            r.dqkv[at(t, 0, d)] += ds * x[at(s, 1, d)];
            r.dqkv[at(s, 1, d)] += ds * x[at(t, 0, d)];
          }
        }
      }
    }
  }
  return r;
}

// The bf16 products see q, k, v and dout rounded, so their probabilities are
// the naive FP32 ones on rounded inputs up to the order of the f32 sums, and
// their outputs and gradients the naive ones at the same rounding points.
TEST_P(AttentionTest, Bf16MatchesNaiveAtTheSameRoundings) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  const AttnCase k = GetParam();
  const auto qkv = RandomVector(size_t(k.B) * k.T * 3 * k.C, 1, 1.5f);
  const auto dout = RandomVector(size_t(k.B) * k.T * k.C, 2);
  const AttnRun bf16 = RunAttention(Impl::kBf16, k, qkv, dout);
  const AttnRun naive = RunAttention(Impl::kNaive, k, Rounded(qkv), Rounded(dout));
  const AttnRun want = NaiveBf16Products(k, qkv, dout, naive.att);
  // ~2e-7 of the scale as a rule; a p that rounds the other way at a bf16
  // boundary (its FP32 value differs in the last bits) moves a result by a
  // fraction of 2^-8 of one term (1.1e-5 measured); a term lost or misplaced
  // costs more than 1e-4.
  EXPECT_LT(ScaledError(bf16.out, want.out), 1e-4);
  EXPECT_LT(ScaledError(bf16.dqkv, want.dqkv), 1e-4);
}

// The T values cut the tiles' row blocks (6 to 16 rows, by head size) into
// uneven remainders, and once evenly (66 by 6); head sizes from 4 to 128
// cover one to four vectors per tile, two column passes and padded heads.
INSTANTIATE_TEST_SUITE_P(Sizes, AttentionTest,
                         ::testing::Values(AttnCase{2, 7, 12, 3}, AttnCase{1, 1, 4, 1},
                                           AttnCase{2, 70, 16, 2}, AttnCase{1, 130, 32, 4},
                                           AttnCase{1, 67, 64, 2}, AttnCase{1, 37, 80, 2},
                                           AttnCase{2, 20, 48, 2}, AttnCase{1, 66, 128, 2},
                                           AttnCase{1, 50, 192, 2}, AttnCase{1, 41, 256, 2},
                                           AttnCase{1, 256, 128, 2}));

TEST(AttentionGradient, BackwardMatchesFiniteDifferences) {
  const int B = 2, T = 4, C = 6, NH = 2;
  auto qkv = RandomVector(size_t(B) * T * 3 * C, 7);
  const auto w = RandomVector(size_t(B) * T * C, 8);
  std::vector<float> out(B * T * C), att(B * NH * T * T);
  for (bool fast : {true, false}) {
    std::vector<float> dqkv(qkv.size(), 123.0f);  // written, not added to
    (fast ? attention_forward : ref::attention_forward)(out.data(), att.data(), qkv.data(), B, T, C,
                                                        NH);
    (fast ? attention_backward : ref::attention_backward)(dqkv.data(), w.data(), qkv.data(),
                                                          att.data(), B, T, C, NH);
    auto loss = [&] {
      ref::attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
      return Dot(out, w);
    };
    ExpectGradient(dqkv, NumericalGradient(qkv, loss), "attention dqkv");
  }
}

TEST(AttentionGradient, FirstPositionAttendsOnlyToItself) {
  // With one visible key the output is exactly v[0] whatever q and k are.
  const int B = 1, T = 3, C = 4, NH = 2;
  const auto qkv = RandomVector(size_t(B) * T * 3 * C, 9);
  std::vector<float> out(B * T * C), att(B * NH * T * T);
  attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  for (int i = 0; i < C; i++) EXPECT_FLOAT_EQ(out[i], qkv[2 * C + i]);
}

}  // namespace
}  // namespace ratchet::train

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct NormCase {
  int N, C;
};

// All the outputs of one forward + backward of a norm.
struct NormRun {
  std::vector<float> out, mean, rstd, dinp, dg, db;
};

struct LayerNormKernels {
  decltype(&layernorm_forward) fwd;
  decltype(&layernorm_backward) bwd;
};
constexpr LayerNormKernels kFastLn{layernorm_forward, layernorm_backward};
constexpr LayerNormKernels kRefLn{ref::layernorm_forward, ref::layernorm_backward};

NormRun RunLayerNorm(const LayerNormKernels& k, const NormCase& s, const std::vector<float>& inp,
                     const std::vector<float>& g, const std::vector<float>& b,
                     const std::vector<float>& dout) {
  NormRun r{std::vector<float>(s.N * s.C),  std::vector<float>(s.N),
            std::vector<float>(s.N),        std::vector<float>(s.N * s.C, 0.5f),
            std::vector<float>(s.C, 0.25f), std::vector<float>(s.C, -0.5f)};
  k.fwd(r.out.data(), r.mean.data(), r.rstd.data(), inp.data(), g.data(), b.data(), s.N, s.C);
  k.bwd(r.dinp.data(), r.dg.data(), r.db.data(), dout.data(), inp.data(), g.data(), r.mean.data(),
        r.rstd.data(), s.N, s.C);
  return r;
}

struct RmsNormKernels {
  decltype(&rmsnorm_forward) fwd;
  decltype(&rmsnorm_backward) bwd;
};
constexpr RmsNormKernels kFastRms{rmsnorm_forward, rmsnorm_backward};
constexpr RmsNormKernels kRefRms{ref::rmsnorm_forward, ref::rmsnorm_backward};

NormRun RunRmsNorm(const RmsNormKernels& k, const NormCase& s, const std::vector<float>& inp,
                   const float* g, const std::vector<float>& dout) {
  NormRun r{std::vector<float>(s.N * s.C),  {},
            std::vector<float>(s.N),        std::vector<float>(s.N * s.C, 0.5f),
            std::vector<float>(s.C, 0.25f), {}};
  k.fwd(r.out.data(), r.rstd.data(), inp.data(), g, s.N, s.C, kNormEps);
  k.bwd(r.dinp.data(), r.dg.data(), dout.data(), inp.data(), g, r.rstd.data(), s.N, s.C);
  return r;
}

class NormTest : public ::testing::TestWithParam<NormCase> {};

TEST_P(NormTest, LayerNormFastMatchesNaive) {
  const NormCase s = GetParam();
  // An offset mean checks the two-pass variance.
  auto inp = RandomVector(s.N * s.C, 1, 2.0f);
  for (float& x : inp) x += 3.0f;
  const auto g = RandomVector(s.C, 2), b = RandomVector(s.C, 3);
  const auto dout = RandomVector(s.N * s.C, 4);
  const NormRun fast = RunLayerNorm(kFastLn, s, inp, g, b, dout);
  const NormRun naive = RunLayerNorm(kRefLn, s, inp, g, b, dout);
  EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fast.mean, naive.mean, 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(fast.rstd, naive.rstd, 1e-5, 0));
  EXPECT_TRUE(AllClose(fast.dinp, naive.dinp, 1e-4, 1e-5));
  EXPECT_TRUE(AllClose(fast.dg, naive.dg, 1e-4, 1e-5));
  EXPECT_TRUE(AllClose(fast.db, naive.db, 1e-4, 1e-5));
}

TEST_P(NormTest, RmsNormFastMatchesNaiveWithAndWithoutGain) {
  const NormCase s = GetParam();
  const auto inp = RandomVector(s.N * s.C, 5, 2.0f);
  const auto g = RandomVector(s.C, 6);
  const auto dout = RandomVector(s.N * s.C, 7);
  for (const float* gain : {g.data(), static_cast<const float*>(nullptr)}) {
    const NormRun fast = RunRmsNorm(kFastRms, s, inp, gain, dout);
    const NormRun naive = RunRmsNorm(kRefRms, s, inp, gain, dout);
    EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-5, 1e-5));
    EXPECT_TRUE(AllClose(fast.rstd, naive.rstd, 1e-5, 0));
    EXPECT_TRUE(AllClose(fast.dinp, naive.dinp, 1e-4, 1e-5));
    EXPECT_TRUE(AllClose(fast.dg, naive.dg, 1e-4, 1e-5));
  }
}

TEST_P(NormTest, NormsAreDeterministicAndThreadCountInvariant) {
  const NormCase s = GetParam();
  const auto inp = RandomVector(s.N * s.C, 8);
  const auto g = RandomVector(s.C, 9), b = RandomVector(s.C, 10);
  const auto dout = RandomVector(s.N * s.C, 11);
  NormRun ln[3], rms[3];
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) {
    WithThreads(threads[i], [&] {
      ln[i] = RunLayerNorm(kFastLn, s, inp, g, b, dout);
      rms[i] = RunRmsNorm(kFastRms, s, inp, g.data(), dout);
    });
  }
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(BitwiseEqual(ln[0].out, ln[i].out));
    EXPECT_TRUE(BitwiseEqual(ln[0].dinp, ln[i].dinp));
    EXPECT_TRUE(BitwiseEqual(ln[0].dg, ln[i].dg));
    EXPECT_TRUE(BitwiseEqual(ln[0].db, ln[i].db));
    EXPECT_TRUE(BitwiseEqual(rms[0].out, rms[i].out));
    EXPECT_TRUE(BitwiseEqual(rms[0].dinp, rms[i].dinp));
    EXPECT_TRUE(BitwiseEqual(rms[0].dg, rms[i].dg));
  }
}

// Under bf16 the norms write their output rounded (the fp32 form is never
// written): it must be bitwise the rounding of the fp32 output, on any
// thread count, with the same saved statistics.
TEST_P(NormTest, Bf16OutputIsBitwiseTheRoundedFp32Output) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  const NormCase s = GetParam();
  const auto inp = RandomVector(s.N * s.C, 21, 3.0f);
  const auto g = RandomVector(s.C, 22), b = RandomVector(s.C, 23);
  const size_t n = size_t(s.N) * s.C;
  std::vector<float> out(n), mean(s.N), rstd(s.N), mean16(s.N), rstd16(s.N);
  std::vector<uint16_t> want(n), got(n);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), g.data(), b.data(), s.N, s.C);
  to_bf16(want.data(), out.data(), s.N, s.C, s.C);
  for (int threads : {1, 2}) {
    WithThreads(threads, [&] {
      layernorm_forward_bf16(got.data(), mean16.data(), rstd16.data(), inp.data(), g.data(),
                             b.data(), s.N, s.C);
    });
    EXPECT_EQ(got, want) << "layernorm, " << threads << " threads";
    EXPECT_TRUE(BitwiseEqual(mean16, mean));
    EXPECT_TRUE(BitwiseEqual(rstd16, rstd));
  }
  for (const float* gain : {g.data(), static_cast<const float*>(nullptr)}) {
    rmsnorm_forward(out.data(), rstd.data(), inp.data(), gain, s.N, s.C);
    to_bf16(want.data(), out.data(), s.N, s.C, s.C);
    for (int threads : {1, 2}) {
      WithThreads(threads, [&] {
        rmsnorm_forward_bf16(got.data(), rstd16.data(), inp.data(), gain, s.N, s.C);
      });
      EXPECT_EQ(got, want) << "rmsnorm, gain " << (gain != nullptr) << ", " << threads
                           << " threads";
      EXPECT_TRUE(BitwiseEqual(rstd16, rstd));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, NormTest,
                         ::testing::Values(NormCase{7, 12}, NormCase{1, 5}, NormCase{33, 37},
                                           NormCase{64, 256},
                                           // several row chunks of the gain sums, the last ragged
                                           NormCase{200, 48}));

TEST(NormGradient, LayerNormBackwardMatchesFiniteDifferences) {
  const int N = 3, C = 5;
  auto inp = RandomVector(N * C, 12);
  auto g = RandomVector(C, 13);
  auto b = RandomVector(C, 14);
  const auto w = RandomVector(N * C, 15);
  std::vector<float> out(N * C), mean(N), rstd(N);
  for (const LayerNormKernels* k : {&kFastLn, &kRefLn}) {
    std::vector<float> dinp(N * C, 0.0f), dg(C, 0.0f), db(C, 0.0f);
    k->fwd(out.data(), mean.data(), rstd.data(), inp.data(), g.data(), b.data(), N, C);
    k->bwd(dinp.data(), dg.data(), db.data(), w.data(), inp.data(), g.data(), mean.data(),
           rstd.data(), N, C);
    auto loss = [&] {
      ref::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), g.data(), b.data(),
                             N, C);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss), "layernorm dinp");
    ExpectGradient(dg, NumericalGradient(g, loss), "layernorm dg");
    ExpectGradient(db, NumericalGradient(b, loss), "layernorm db");
  }
}

TEST(NormGradient, RmsNormBackwardMatchesFiniteDifferences) {
  const int N = 3, C = 5;
  auto inp = RandomVector(N * C, 16);
  auto g = RandomVector(C, 17);
  const auto w = RandomVector(N * C, 18);
  std::vector<float> out(N * C), rstd(N);
  for (const RmsNormKernels* k : {&kFastRms, &kRefRms}) {
    for (bool with_gain : {true, false}) {
      const float* gain = with_gain ? g.data() : nullptr;
      std::vector<float> dinp(N * C, 0.0f), dg(C, 0.0f);
      k->fwd(out.data(), rstd.data(), inp.data(), gain, N, C, kNormEps);
      k->bwd(dinp.data(), dg.data(), w.data(), inp.data(), gain, rstd.data(), N, C);
      auto loss = [&] {
        ref::rmsnorm_forward(out.data(), rstd.data(), inp.data(), with_gain ? g.data() : nullptr, N,
                             C, kNormEps);
        return Dot(out, w);
      };
      ExpectGradient(dinp, NumericalGradient(inp, loss), "rmsnorm dinp");
      if (with_gain) ExpectGradient(dg, NumericalGradient(g, loss), "rmsnorm dg");
    }
  }
}

// ---------------------------------------------------------------- qk_norm

struct QkCase {
  int B, T, C, NH;
};

class QkNormTest : public ::testing::TestWithParam<QkCase> {};

TEST_P(QkNormTest, FastMatchesNaiveAndIsThreadCountInvariant) {
  const QkCase s = GetParam();
  const size_t n = size_t(s.B) * s.T * 3 * s.C;
  const auto inp = RandomVector(n, 19, 3.0f);
  const auto dout = RandomVector(n, 20);
  auto run = [&](bool fast) {
    NormRun r{std::vector<float>(n),       {}, std::vector<float>(s.B * s.T * 2 * s.NH),
              std::vector<float>(n, 0.5f), {}, {}};
    (fast ? qknorm_forward : ref::qknorm_forward)(r.out.data(), r.rstd.data(), inp.data(), s.B, s.T,
                                                  s.C, s.NH);
    (fast ? qknorm_backward : ref::qknorm_backward)(r.dinp.data(), dout.data(), inp.data(),
                                                    r.rstd.data(), s.B, s.T, s.C, s.NH);
    return r;
  };
  const NormRun naive = run(false);
  NormRun fast[3];
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) WithThreads(threads[i], [&] { fast[i] = run(true); });
  EXPECT_TRUE(AllClose(fast[0].out, naive.out, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fast[0].rstd, naive.rstd, 1e-5, 0));
  EXPECT_TRUE(AllClose(fast[0].dinp, naive.dinp, 1e-4, 1e-5));
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(BitwiseEqual(fast[0].out, fast[i].out));
    EXPECT_TRUE(BitwiseEqual(fast[0].dinp, fast[i].dinp));
  }
  // v is copied through untouched.
  for (int bt = 0; bt < s.B * s.T; bt++) {
    for (int i = 2 * s.C; i < 3 * s.C; i++) {
      ASSERT_EQ(fast[0].out[bt * 3 * s.C + i], inp[bt * 3 * s.C + i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, QkNormTest,
                         ::testing::Values(QkCase{2, 7, 12, 3}, QkCase{1, 5, 8, 1},
                                           QkCase{3, 9, 64, 4}));

TEST(QkNormGradient, BackwardMatchesFiniteDifferences) {
  const int B = 2, T = 2, C = 6, NH = 2;
  const size_t n = size_t(B) * T * 3 * C;
  auto inp = RandomVector(n, 21);
  const auto w = RandomVector(n, 22);
  std::vector<float> out(n), rstd(B * T * 2 * NH);
  for (bool fast : {true, false}) {
    std::vector<float> dinp(n, 0.0f);
    (fast ? qknorm_forward : ref::qknorm_forward)(out.data(), rstd.data(), inp.data(), B, T, C, NH);
    (fast ? qknorm_backward : ref::qknorm_backward)(dinp.data(), w.data(), inp.data(), rstd.data(),
                                                    B, T, C, NH);
    auto loss = [&] {
      ref::qknorm_forward(out.data(), rstd.data(), inp.data(), B, T, C, NH);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss), "qknorm dinp");
  }
}

}  // namespace
}  // namespace ratchet::train

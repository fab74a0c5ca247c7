#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct RopeCase {
  int B, T, C, NH;
};

struct Tables {
  std::vector<float> cos, sin;
};

Tables MakeTables(int T, int hs, float base) {
  Tables t{std::vector<float>(T * hs / 2), std::vector<float>(T * hs / 2)};
  rope_tables(t.cos.data(), t.sin.data(), T, hs, base);
  return t;
}

TEST(RopeTables, HoldTheAnglesOfTheModelContract) {
  const int T = 5, hs = 8;
  const Tables t = MakeTables(T, hs, 10000.0f);
  std::vector<float> c(T * hs / 2), s(T * hs / 2);
  ref::rope_tables(c.data(), s.data(), T, hs, 10000.0f);
  EXPECT_TRUE(BitwiseEqual(t.cos, c));
  EXPECT_TRUE(BitwiseEqual(t.sin, s));
  // angle(t=3, i=1) = 3 * 10000^(-2/8) = 0.3
  EXPECT_NEAR(t.cos[3 * 4 + 1], std::cos(0.3), 1e-7);
  EXPECT_NEAR(t.sin[3 * 4 + 1], std::sin(0.3), 1e-7);
  EXPECT_EQ(t.cos[0], 1.0f);  // t = 0: no rotation
  EXPECT_EQ(t.sin[0], 0.0f);
}

class RopeTest : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeTest, FastMatchesNaiveInPlaceAndThreadCountInvariant) {
  const RopeCase k = GetParam();
  const int hs = k.C / k.NH;
  const size_t n = size_t(k.B) * k.T * 3 * k.C;
  const Tables tab = MakeTables(k.T, hs, 500.0f);
  const auto inp = RandomVector(n, 1);
  const auto dout = RandomVector(n, 2);
  auto run = [&](bool fast, std::vector<float>& out, std::vector<float>& dinp) {
    out.assign(n, 0.0f);
    dinp.assign(n, 0.5f);
    (fast ? rope_forward : ref::rope_forward)(out.data(), inp.data(), tab.cos.data(),
                                              tab.sin.data(), k.B, k.T, k.C, k.NH);
    (fast ? rope_backward : ref::rope_backward)(dinp.data(), dout.data(), tab.cos.data(),
                                                tab.sin.data(), k.B, k.T, k.C, k.NH);
  };
  std::vector<float> out_ref, dinp_ref, out[3], dinp[3];
  run(false, out_ref, dinp_ref);
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) {
    WithThreads(threads[i], [&] { run(true, out[i], dinp[i]); });
  }
  EXPECT_TRUE(AllClose(out[0], out_ref, 1e-5, 1e-6));
  EXPECT_TRUE(AllClose(dinp[0], dinp_ref, 1e-5, 1e-6));
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(BitwiseEqual(out[0], out[i]));
    EXPECT_TRUE(BitwiseEqual(dinp[0], dinp[i]));
  }
  std::vector<float> in_place = inp;
  rope_forward(in_place.data(), in_place.data(), tab.cos.data(), tab.sin.data(), k.B, k.T, k.C,
               k.NH);
  EXPECT_TRUE(BitwiseEqual(in_place, out[0]));
  // A rotation keeps each head's norm; v is untouched.
  for (int bt = 0; bt < k.B * k.T; bt++) {
    for (int ph = 0; ph < 2 * k.NH; ph++) {
      double before = 0, after = 0;
      for (int i = 0; i < hs; i++) {
        const size_t at = size_t(bt) * 3 * k.C + ph * hs + i;
        before += double(inp[at]) * inp[at];
        after += double(out[0][at]) * out[0][at];
      }
      ASSERT_NEAR(after, before, 1e-5 * (1 + before));
    }
    for (int i = 2 * k.C; i < 3 * k.C; i++) {
      ASSERT_EQ(out[0][bt * 3 * k.C + i], inp[bt * 3 * k.C + i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, RopeTest,
                         ::testing::Values(RopeCase{2, 7, 12, 3}, RopeCase{1, 3, 2, 1},
                                           RopeCase{3, 17, 64, 4}));

TEST(RopeGradient, BackwardMatchesFiniteDifferences) {
  const int B = 2, T = 3, C = 8, NH = 2;
  const size_t n = size_t(B) * T * 3 * C;
  const Tables tab = MakeTables(T, C / NH, 10.0f);
  auto inp = RandomVector(n, 3);
  const auto w = RandomVector(n, 4);
  std::vector<float> out(n);
  for (bool fast : {true, false}) {
    std::vector<float> dinp(n, 0.0f);
    (fast ? rope_backward : ref::rope_backward)(dinp.data(), w.data(), tab.cos.data(),
                                                tab.sin.data(), B, T, C, NH);
    auto loss = [&] {
      ref::rope_forward(out.data(), inp.data(), tab.cos.data(), tab.sin.data(), B, T, C, NH);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss), "rope dinp");
  }
}

}  // namespace
}  // namespace ratchet::train

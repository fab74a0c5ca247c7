#include <gtest/gtest.h>

#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct EncoderCase {
  int B, T, C, V;
  bool learned_pos;
};

struct EncoderRun {
  std::vector<float> out, dwte, dwpe;
};

EncoderRun RunFast(const EncoderCase& k, const std::vector<int32_t>& tok,
                   const std::vector<float>& wte, const std::vector<float>& wpe,
                   const std::vector<float>& dout) {
  EncoderRun r{std::vector<float>(k.B * k.T * k.C), std::vector<float>(k.V * k.C, 0.5f),
               std::vector<float>(k.T * k.C, -0.25f)};
  encoder_forward(r.out.data(), tok.data(), wte.data(), k.learned_pos ? wpe.data() : nullptr, k.B,
                  k.T, k.C);
  encoder_backward(r.dwte.data(), k.learned_pos ? r.dwpe.data() : nullptr, dout.data(), tok.data(),
                   k.B, k.T, k.C);
  return r;
}

class EncoderTest : public ::testing::TestWithParam<EncoderCase> {};

TEST_P(EncoderTest, FastMatchesNaiveAndAccumulatesIntoGradients) {
  const EncoderCase k = GetParam();
  // Few distinct tokens so that many positions share a row of dwte.
  const auto tok = RandomTokens(k.B * k.T, 1, 5);
  const auto wte = RandomVector(k.V * k.C, 2);
  const auto wpe = RandomVector(k.T * k.C, 3);
  const auto dout = RandomVector(k.B * k.T * k.C, 4);
  const EncoderRun fast = RunFast(k, tok, wte, wpe, dout);
  EncoderRun naive{std::vector<float>(k.B * k.T * k.C), std::vector<float>(k.V * k.C, 0.5f),
                   std::vector<float>(k.T * k.C, -0.25f)};
  ref::encoder_forward(naive.out.data(), tok.data(), wte.data(),
                       k.learned_pos ? wpe.data() : nullptr, k.B, k.T, k.C);
  ref::encoder_backward(naive.dwte.data(), k.learned_pos ? naive.dwpe.data() : nullptr, dout.data(),
                        tok.data(), k.B, k.T, k.C);
  EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(fast.dwte, naive.dwte, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fast.dwpe, naive.dwpe, 1e-5, 1e-5));
}

TEST_P(EncoderTest, IsDeterministicAndThreadCountInvariant) {
  const EncoderCase k = GetParam();
  const auto tok = RandomTokens(k.B * k.T, 5, 7);
  const auto wte = RandomVector(k.V * k.C, 6);
  const auto wpe = RandomVector(k.T * k.C, 7);
  const auto dout = RandomVector(k.B * k.T * k.C, 8);
  EncoderRun a, b, c;
  WithThreads(1, [&] { a = RunFast(k, tok, wte, wpe, dout); });
  WithThreads(1, [&] { b = RunFast(k, tok, wte, wpe, dout); });
  WithThreads(2, [&] { c = RunFast(k, tok, wte, wpe, dout); });
  for (const EncoderRun* r : {&b, &c}) {
    EXPECT_TRUE(BitwiseEqual(a.out, r->out));
    EXPECT_TRUE(BitwiseEqual(a.dwte, r->dwte));
    EXPECT_TRUE(BitwiseEqual(a.dwpe, r->dwpe));
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, EncoderTest,
                         ::testing::Values(EncoderCase{2, 7, 12, 9, true},
                                           EncoderCase{3, 5, 37, 11, false},
                                           EncoderCase{4, 33, 64, 256, true}));

TEST(EncoderGradient, BackwardMatchesFiniteDifferences) {
  const int B = 2, T = 3, C = 4, V = 5;
  const auto tok = RandomTokens(B * T, 9, 3);
  auto wte = RandomVector(V * C, 10);
  auto wpe = RandomVector(T * C, 11);
  const auto w = RandomVector(B * T * C, 12);
  std::vector<float> out(B * T * C), dwte(V * C, 0.0f), dwpe(T * C, 0.0f);
  encoder_backward(dwte.data(), dwpe.data(), w.data(), tok.data(), B, T, C);
  auto loss = [&] {
    ref::encoder_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
    return Dot(out, w);
  };
  ExpectGradient(dwte, NumericalGradient(wte, loss), "encoder dwte");
  ExpectGradient(dwpe, NumericalGradient(wpe, loss), "encoder dwpe");
}

}  // namespace
}  // namespace ratchet::train

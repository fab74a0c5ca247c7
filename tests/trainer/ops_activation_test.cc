#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

using Elementwise = void (*)(float*, const float*, size_t);
using ElementwiseBackward = void (*)(float*, const float*, const float*, size_t);

struct Activation {
  std::string name;
  Elementwise fwd, ref_fwd;
  ElementwiseBackward bwd, ref_bwd;
};

const Activation kActivations[] = {
    {"gelu", gelu_forward, ref::gelu_forward, gelu_backward, ref::gelu_backward},
    {"relu2", relu2_forward, ref::relu2_forward, relu2_backward, ref::relu2_backward},
};

TEST(ElementwiseActivation, FastMatchesNaiveOnOddSizes) {
  for (const Activation& a : kActivations) {
    for (size_t n : {size_t(1), size_t(7), size_t(1001)}) {
      const auto inp = RandomVector(n, 1, 3.0f);
      const auto dout = RandomVector(n, 2);
      std::vector<float> out(n), out_ref(n), dinp(n, 0.5f), dinp_ref(n, 0.5f);
      a.fwd(out.data(), inp.data(), n);
      a.ref_fwd(out_ref.data(), inp.data(), n);
      a.bwd(dinp.data(), dout.data(), inp.data(), n);
      a.ref_bwd(dinp_ref.data(), dout.data(), inp.data(), n);
      EXPECT_TRUE(AllClose(out, out_ref, 1e-5, 1e-6)) << a.name << " n=" << n;
      EXPECT_TRUE(AllClose(dinp, dinp_ref, 1e-5, 1e-6)) << a.name << " n=" << n;
    }
  }
}

// The model runs gelu/relu2 backward in place: dinp is the dout buffer.
TEST(ElementwiseActivation, BackwardInPlaceEqualsOutOfPlace) {
  for (const Activation& a : kActivations) {
    const size_t n = 1001;
    const auto inp = RandomVector(n, 5, 3.0f);
    std::vector<float> grad = RandomVector(n, 6), expected(n);
    a.bwd(expected.data(), grad.data(), inp.data(), n);
    a.bwd(grad.data(), grad.data(), inp.data(), n);
    EXPECT_TRUE(BitwiseEqual(grad, expected)) << a.name;
  }
}

TEST(ElementwiseActivation, BackwardMatchesFiniteDifferences) {
  for (const Activation& a : kActivations) {
    auto inp = RandomVector(9, 3, 2.0f);
    const auto w = RandomVector(9, 4);
    std::vector<float> out(9), dinp(9, 123.0f);  // written, not added to
    a.bwd(dinp.data(), w.data(), inp.data(), 9);
    auto loss = [&] {
      a.ref_fwd(out.data(), inp.data(), 9);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss, 1e-3f), a.name);
  }
}

TEST(ElementwiseActivation, IsDeterministicAndThreadCountInvariant) {
  const size_t n = 100003;
  const auto inp = RandomVector(n, 5, 3.0f);
  const auto dout = RandomVector(n, 6);
  for (const Activation& a : kActivations) {
    std::vector<float> out[3], dinp[3];
    const int threads[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
      out[i].resize(n);
      dinp[i].assign(n, 0.0f);
      WithThreads(threads[i], [&] {
        a.fwd(out[i].data(), inp.data(), n);
        a.bwd(dinp[i].data(), dout.data(), inp.data(), n);
      });
    }
    for (int i = 1; i < 3; i++) {
      EXPECT_TRUE(BitwiseEqual(out[0], out[i])) << a.name;
      EXPECT_TRUE(BitwiseEqual(dinp[0], dinp[i])) << a.name;
    }
  }
}

// Under bf16 GELU writes its output rounded, row by row: bitwise the
// rounding of gelu_forward's, on any thread count, for rows that end
// mid-vector and for the far tails (tiny and huge values).
TEST(GeluActivation, Bf16OutputIsBitwiseTheRoundedFp32Output) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  for (const auto& [rows, cols] : {std::pair{7, 37}, std::pair{33, 64}, std::pair{1, 5}}) {
    const size_t n = size_t(rows) * cols;
    auto inp = RandomVector(n, 31, 4.0f);
    inp[0] = -60.0f, inp[n - 1] = 1e30f, inp[n / 2] = -1e30f;
    std::vector<float> out(n);
    std::vector<uint16_t> want(n), got(n);
    gelu_forward(out.data(), inp.data(), n);
    to_bf16(want.data(), out.data(), rows, cols, cols);
    for (int threads : {1, 2}) {
      WithThreads(threads, [&] { gelu_forward_bf16(got.data(), inp.data(), rows, cols); });
      EXPECT_EQ(got, want) << rows << "x" << cols << ", " << threads << " threads";
    }
  }
}

TEST(GeluActivation, MatchesTheTanhFormulaAtKnownPoints) {
  const std::vector<float> inp = {-3.0f, -1.0f, 0.0f, 0.5f, 2.0f};
  std::vector<float> out(inp.size());
  gelu_forward(out.data(), inp.data(), inp.size());
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))), by hand in double.
  const std::vector<float> want = {-0.00363739f, -0.158808f, 0.0f, 0.345714f, 1.954598f};
  EXPECT_TRUE(AllClose(out, want, 2e-5, 1e-6));
}

TEST(ElementwiseActivation, GeluAndSwigluStayFiniteAndAccurateForHugeInputs) {
  // Regression: x * exp(-2u) overflowed to inf for x around -40.
  const std::vector<float> inp = {-1e4f, -300.0f, -40.0f, -9.0f, 9.0f, 40.0f, 1e4f, 0.0f};
  const std::vector<float> dout(inp.size(), 1.0f);
  const size_t n = inp.size();
  std::vector<float> out(n), out_ref(n), dinp(n, 0.0f), dinp_ref(n, 0.0f);
  gelu_forward(out.data(), inp.data(), n);
  ref::gelu_forward(out_ref.data(), inp.data(), n);
  gelu_backward(dinp.data(), dout.data(), inp.data(), n);
  ref::gelu_backward(dinp_ref.data(), dout.data(), inp.data(), n);
  EXPECT_TRUE(AllClose(out, out_ref, 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(dinp, dinp_ref, 1e-6, 1e-6));
  // SwiGLU with N = 1, H = n: gate = inp, up = 1.
  std::vector<float> gu = inp;
  gu.insert(gu.end(), n, 1.0f);
  std::vector<float> sw(n), sw_ref(n), dsw(2 * n, 0.0f), dsw_ref(2 * n, 0.0f);
  swiglu_forward(sw.data(), gu.data(), 1, n);
  ref::swiglu_forward(sw_ref.data(), gu.data(), 1, n);
  swiglu_backward(dsw.data(), dout.data(), gu.data(), 1, n);
  ref::swiglu_backward(dsw_ref.data(), dout.data(), gu.data(), 1, n);
  EXPECT_TRUE(AllClose(sw, sw_ref, 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(dsw, dsw_ref, 1e-6, 1e-6));
}

// ---------------------------------------------------------------- swiglu

struct SwigluRun {
  std::vector<float> out, dinp;
};

SwigluRun RunSwiglu(bool fast, int N, int H, const std::vector<float>& inp,
                    const std::vector<float>& dout) {
  SwigluRun r{std::vector<float>(N * H), std::vector<float>(N * 2 * H, 0.5f)};
  (fast ? swiglu_forward : ref::swiglu_forward)(r.out.data(), inp.data(), N, H);
  (fast ? swiglu_backward : ref::swiglu_backward)(r.dinp.data(), dout.data(), inp.data(), N, H);
  return r;
}

TEST(Swiglu, FastMatchesNaiveAndIsThreadCountInvariant) {
  for (auto [N, H] : {std::pair{7, 12}, std::pair{1, 1}, std::pair{65, 48}}) {
    const auto inp = RandomVector(N * 2 * H, 7, 3.0f);
    const auto dout = RandomVector(N * H, 8);
    const SwigluRun naive = RunSwiglu(false, N, H, inp, dout);
    SwigluRun fast[3];
    const int threads[3] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
      WithThreads(threads[i], [&] { fast[i] = RunSwiglu(true, N, H, inp, dout); });
    }
    EXPECT_TRUE(AllClose(fast[0].out, naive.out, 1e-5, 1e-6)) << N << "x" << H;
    EXPECT_TRUE(AllClose(fast[0].dinp, naive.dinp, 1e-5, 1e-6)) << N << "x" << H;
    for (int i = 1; i < 3; i++) {
      EXPECT_TRUE(BitwiseEqual(fast[0].out, fast[i].out));
      EXPECT_TRUE(BitwiseEqual(fast[0].dinp, fast[i].dinp));
    }
  }
}

TEST(Swiglu, BackwardMatchesFiniteDifferences) {
  const int N = 3, H = 4;
  auto inp = RandomVector(N * 2 * H, 9, 2.0f);
  const auto w = RandomVector(N * H, 10);
  std::vector<float> out(N * H);
  for (bool fast : {true, false}) {
    std::vector<float> dinp(N * 2 * H, 123.0f);  // written, not added to
    (fast ? swiglu_backward : ref::swiglu_backward)(dinp.data(), w.data(), inp.data(), N, H);
    auto loss = [&] {
      ref::swiglu_forward(out.data(), inp.data(), N, H);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss, 1e-3f), "swiglu dinp");
  }
}

}  // namespace
}  // namespace ratchet::train

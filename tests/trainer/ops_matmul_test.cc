#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/dnnl_pieces.h"
#include "trainer/gemm_bf16.h"
#include "trainer/gemm_fp32.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct MatmulCase {
  int N, K, M;
};

// One forward + backward of either layout through a set of kernels.
struct MatmulRun {
  std::vector<float> out, dinp, dw;
};

using Forward = void (*)(float*, const float*, const float*, int, int, int);
using Backward = void (*)(float*, float*, const float*, const float*, const float*, int, int, int);

MatmulRun RunMatmul(Forward fwd, Backward bwd, const MatmulCase& k, const std::vector<float>& inp,
                    const std::vector<float>& w, const std::vector<float>& dout) {
  // dinp starts at 123 to check that backward writes it, dw at -1 to check
  // that it adds.
  MatmulRun r{std::vector<float>(k.N * k.M), std::vector<float>(k.N * k.K, 123.0f),
              std::vector<float>(k.K * k.M, -1.0f)};
  fwd(r.out.data(), inp.data(), w.data(), k.N, k.K, k.M);
  bwd(r.dinp.data(), r.dw.data(), dout.data(), inp.data(), w.data(), k.N, k.K, k.M);
  return r;
}

// The kernels with their precision bound, as plain function pointers.
template <Precision P>
void ForwardIn(float* out, const float* inp, const float* w, int N, int K, int M) {
  matmul_forward(out, inp, w, N, K, M, P);
}
template <Precision P>
void BackwardIn(float* dinp, float* dw, const float* dout, const float* inp, const float* w, int N,
                int K, int M) {
  matmul_backward(dinp, dw, dout, inp, w, N, K, M, P);
}
template <Precision P>
void WtForwardIn(float* out, const float* inp, const float* w, int N, int K, int M) {
  matmul_wt_forward(out, inp, w, N, K, M, P);
}
template <Precision P>
void WtBackwardIn(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                  int N, int K, int M) {
  matmul_wt_backward(dinp, dw, dout, inp, w, N, K, M, P);
}
constexpr Forward Fp32Forward = ForwardIn<Precision::kFp32>, Bf16Forward = ForwardIn<Precision::kBf16>;
constexpr Backward Fp32Backward = BackwardIn<Precision::kFp32>,
                   Bf16Backward = BackwardIn<Precision::kBf16>;
constexpr Forward Fp32WtForward = WtForwardIn<Precision::kFp32>,
                  Bf16WtForward = WtForwardIn<Precision::kBf16>;
constexpr Backward Fp32WtBackward = WtBackwardIn<Precision::kFp32>,
                   Bf16WtBackward = WtBackwardIn<Precision::kBf16>;

// Runs `test` with the fp32 products on OpenBLAS, then on oneDNN where it
// runs AVX-512 (gemm_fp32.h), and puts the process's choice back.
void ForEachFp32Gemm(const std::function<void()>& test) {
  const Fp32Gemm chosen = Fp32GemmHere();
  for (Fp32Gemm gemm : {Fp32Gemm::kOpenBlas, Fp32Gemm::kOneDnn}) {
    if (gemm == Fp32Gemm::kOneDnn && !dnnl_has_avx512()) continue;
    SetFp32GemmForTesting(gemm);
    SCOPED_TRACE(Fp32GemmName(gemm));
    test();
  }
  SetFp32GemmForTesting(chosen);
}

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

// atol 1e-4: float sums of up to 256 unit-size products round to ~1e-5.
TEST_P(MatmulTest, FastMatchesNaiveForBothWeightLayouts) {
  ForEachFp32Gemm([&] {
    const MatmulCase k = GetParam();
    const auto inp = RandomVector(k.N * k.K, 1);
    const auto w = RandomVector(k.K * k.M, 2);
    const auto dout = RandomVector(k.N * k.M, 3);
    const MatmulRun fast = RunMatmul(Fp32Forward, Fp32Backward, k, inp, w, dout);
    const MatmulRun naive = RunMatmul(ref::matmul_forward, ref::matmul_backward, k, inp, w, dout);
    EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-5, 1e-4));
    EXPECT_TRUE(AllClose(fast.dinp, naive.dinp, 1e-5, 1e-4));
    EXPECT_TRUE(AllClose(fast.dw, naive.dw, 1e-5, 1e-4));
    const MatmulRun fast_t = RunMatmul(Fp32WtForward, Fp32WtBackward, k, inp, w, dout);
    const MatmulRun naive_t =
        RunMatmul(ref::matmul_wt_forward, ref::matmul_wt_backward, k, inp, w, dout);
    EXPECT_TRUE(AllClose(fast_t.out, naive_t.out, 1e-5, 1e-4));
    EXPECT_TRUE(AllClose(fast_t.dinp, naive_t.dinp, 1e-5, 1e-4));
    EXPECT_TRUE(AllClose(fast_t.dw, naive_t.dw, 1e-5, 1e-4));
  });
}

// bf16: every product of both layouts is the naive one of the bf16-rounded
// operands (their products are exact in f32; only the f32 sums round).
TEST_P(MatmulTest, Bf16IsTheNaiveProductOfTheRoundedOperandsForBothLayouts) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  const MatmulCase k = GetParam();
  const auto inp = RandomVector(k.N * k.K, 1);
  const auto w = RandomVector(k.K * k.M, 2);
  const auto dout = RandomVector(k.N * k.M, 3);
  const auto round = [](std::vector<float> x) {
    round_to_bf16(x.data(), x.data(), x.size());
    return x;
  };
  const auto inp16 = round(inp), w16 = round(w), dout16 = round(dout);
  const MatmulRun fast = RunMatmul(Bf16Forward, Bf16Backward, k, inp, w, dout);
  const MatmulRun naive =
      RunMatmul(ref::matmul_forward, ref::matmul_backward, k, inp16, w16, dout16);
  EXPECT_TRUE(AllClose(fast.out, naive.out, 1e-5, 1e-4));
  EXPECT_TRUE(AllClose(fast.dinp, naive.dinp, 1e-5, 1e-4));
  EXPECT_TRUE(AllClose(fast.dw, naive.dw, 1e-5, 1e-4));
  const MatmulRun fast_t = RunMatmul(Bf16WtForward, Bf16WtBackward, k, inp, w, dout);
  const MatmulRun naive_t =
      RunMatmul(ref::matmul_wt_forward, ref::matmul_wt_backward, k, inp16, w16, dout16);
  EXPECT_TRUE(AllClose(fast_t.out, naive_t.out, 1e-5, 1e-4));
  EXPECT_TRUE(AllClose(fast_t.dinp, naive_t.dinp, 1e-5, 1e-4));
  EXPECT_TRUE(AllClose(fast_t.dw, naive_t.dw, 1e-5, 1e-4));
}

TEST_P(MatmulTest, ForwardAddAddsTheProductToWhatOutHeld) {
  const MatmulCase k = GetParam();
  const auto inp = RandomVector(k.N * k.K, 19);
  const auto w = RandomVector(k.K * k.M, 20);
  const auto residual = RandomVector(k.N * k.M, 21);
  std::vector<float> out = residual, product(k.N * k.M);
  matmul_forward_add(out.data(), inp.data(), w.data(), k.N, k.K, k.M);
  ref::matmul_forward(product.data(), inp.data(), w.data(), k.N, k.K, k.M);
  for (size_t i = 0; i < product.size(); i++) product[i] += residual[i];
  EXPECT_TRUE(AllClose(out, product, 1e-5, 1e-4));
}

TEST_P(MatmulTest, BackwardWithoutInputGradientStillAccumulatesWeights) {
  const MatmulCase k = GetParam();
  const auto inp = RandomVector(k.N * k.K, 4);
  const auto w = RandomVector(k.K * k.M, 5);
  const auto dout = RandomVector(k.N * k.M, 6);
  std::vector<float> dw(k.K * k.M, 0.0f), dw_ref(k.K * k.M, 0.0f);
  matmul_backward(nullptr, dw.data(), dout.data(), inp.data(), w.data(), k.N, k.K, k.M);
  ref::matmul_backward(nullptr, dw_ref.data(), dout.data(), inp.data(), w.data(), k.N, k.K, k.M);
  EXPECT_TRUE(AllClose(dw, dw_ref, 1e-5, 1e-4));
  std::fill(dw.begin(), dw.end(), 0.0f);
  std::fill(dw_ref.begin(), dw_ref.end(), 0.0f);
  matmul_wt_backward(nullptr, dw.data(), dout.data(), inp.data(), w.data(), k.N, k.K, k.M);
  ref::matmul_wt_backward(nullptr, dw_ref.data(), dout.data(), inp.data(), w.data(), k.N, k.K, k.M);
  EXPECT_TRUE(AllClose(dw, dw_ref, 1e-5, 1e-4));
}

TEST_P(MatmulTest, IsDeterministicAndThreadCountInvariant) {
  ForEachFp32Gemm([&] {
    const MatmulCase k = GetParam();
    const auto inp = RandomVector(k.N * k.K, 7);
    const auto w = RandomVector(k.K * k.M, 8);
    const auto dout = RandomVector(k.N * k.M, 9);
    for (bool transposed : {false, true}) {
      Forward fwd = transposed ? Fp32WtForward : Fp32Forward;
      Backward bwd = transposed ? Fp32WtBackward : Fp32Backward;
      MatmulRun a, b, c;
      WithThreads(1, [&] { a = RunMatmul(fwd, bwd, k, inp, w, dout); });
      WithThreads(1, [&] { b = RunMatmul(fwd, bwd, k, inp, w, dout); });
      WithThreads(2, [&] { c = RunMatmul(fwd, bwd, k, inp, w, dout); });
      for (const MatmulRun* r : {&b, &c}) {
        EXPECT_TRUE(BitwiseEqual(a.out, r->out)) << transposed;
        EXPECT_TRUE(BitwiseEqual(a.dinp, r->dinp)) << transposed;
        EXPECT_TRUE(BitwiseEqual(a.dw, r->dw)) << transposed;
      }
    }
  });
}

// Operands rounded once (to_bf16) and handed to the products, as the model
// does, give bitwise what the products rounding them per call give, for both
// layouts, on 1 and 2 threads.
TEST_P(MatmulTest, Bf16OnRoundedOperandsIsBitwiseTheProductRoundingThemPerCall) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  const MatmulCase k = GetParam();
  const auto inp = RandomVector(k.N * k.K, 22);
  const auto w = RandomVector(k.K * k.M, 23);
  const auto dout = RandomVector(k.N * k.M, 24);
  std::vector<uint16_t> inp16(inp.size()), w16(w.size()), dout16(dout.size());
  to_bf16(inp16.data(), inp.data(), k.N, k.K, k.K);
  to_bf16(dout16.data(), dout.data(), k.N, k.M, k.M);
  for (bool transposed : {false, true}) {
    const int w_rows = transposed ? k.M : k.K, w_cols = transposed ? k.K : k.M;
    to_bf16(w16.data(), w.data(), w_rows, w_cols, w_cols);
    const MatmulRun per_call = transposed
                                   ? RunMatmul(Bf16WtForward, Bf16WtBackward, k, inp, w, dout)
                                   : RunMatmul(Bf16Forward, Bf16Backward, k, inp, w, dout);
    for (int threads : {1, 2}) {
      MatmulRun once{std::vector<float>(k.N * k.M), std::vector<float>(k.N * k.K, 123.0f),
                     std::vector<float>(k.K * k.M, -1.0f)};
      WithThreads(threads, [&] {
        if (transposed) {
          matmul_wt_forward_bf16(once.out.data(), inp16.data(), w16.data(), k.N, k.K, k.M);
          matmul_wt_backward_bf16(once.dinp.data(), once.dw.data(), dout16.data(), inp16.data(),
                                  w16.data(), k.N, k.K, k.M);
        } else {
          matmul_forward_bf16(once.out.data(), inp16.data(), w16.data(), k.N, k.K, k.M);
          matmul_backward_bf16(once.dinp.data(), once.dw.data(), dout16.data(), inp16.data(),
                               w16.data(), k.N, k.K, k.M);
        }
      });
      EXPECT_TRUE(BitwiseEqual(per_call.out, once.out)) << transposed << " " << threads;
      EXPECT_TRUE(BitwiseEqual(per_call.dinp, once.dinp)) << transposed << " " << threads;
      EXPECT_TRUE(BitwiseEqual(per_call.dw, once.dw)) << transposed << " " << threads;
    }
  }
  // The residual form adds to what out held, like matmul_forward_add.
  const auto residual = RandomVector(k.N * k.M, 25);
  std::vector<float> add_once = residual, add_per_call = residual;
  to_bf16(w16.data(), w.data(), k.K, k.M, k.M);
  matmul_forward_add_bf16(add_once.data(), inp16.data(), w16.data(), k.N, k.K, k.M);
  matmul_forward_add(add_per_call.data(), inp.data(), w.data(), k.N, k.K, k.M, Precision::kBf16);
  EXPECT_TRUE(BitwiseEqual(add_per_call, add_once));
}

INSTANTIATE_TEST_SUITE_P(Sizes, MatmulTest,
                         ::testing::Values(MatmulCase{7, 12, 5}, MatmulCase{1, 3, 1},
                                           MatmulCase{37, 64, 45}, MatmulCase{256, 96, 288}));

// Model-sized products, cut into several pieces (gemm_pieces.h): 2 and 3
// threads share them, evenly or not, and no element may change. OpenBLAS's
// own threading fails this with its Haswell kernels.
TEST(MatmulThreads, ModelSizedProductsAreThreadCountInvariant) {
  ForEachFp32Gemm([&] {
    const MatmulCase k{1024, 256, 768};
    const auto inp = RandomVector(k.N * k.K, 16);
    const auto w = RandomVector(k.K * k.M, 17);
    const auto dout = RandomVector(k.N * k.M, 18);
    for (bool transposed : {false, true}) {
      Forward fwd = transposed ? Fp32WtForward : Fp32Forward;
      Backward bwd = transposed ? Fp32WtBackward : Fp32Backward;
      MatmulRun one;
      WithThreads(1, [&] { one = RunMatmul(fwd, bwd, k, inp, w, dout); });
      for (int threads : {2, 3}) {
        MatmulRun more;
        WithThreads(threads, [&] { more = RunMatmul(fwd, bwd, k, inp, w, dout); });
        EXPECT_TRUE(BitwiseEqual(one.out, more.out)) << transposed << " " << threads;
        EXPECT_TRUE(BitwiseEqual(one.dinp, more.dinp)) << transposed << " " << threads;
        EXPECT_TRUE(BitwiseEqual(one.dw, more.dw)) << transposed << " " << threads;
      }
    }
  });
}

TEST(MatmulGradient, BackwardMatchesFiniteDifferences) {
  const int N = 3, K = 4, M = 5;
  auto inp = RandomVector(N * K, 10);
  auto w = RandomVector(K * M, 11);
  const auto dout = RandomVector(N * M, 12);
  std::vector<float> out(N * M), dinp(N * K, 0.0f), dw(K * M, 0.0f);
  matmul_backward(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), N, K, M);
  auto loss = [&] {
    ref::matmul_forward(out.data(), inp.data(), w.data(), N, K, M);
    return Dot(out, dout);
  };
  ExpectGradient(dinp, NumericalGradient(inp, loss), "matmul dinp");
  ExpectGradient(dw, NumericalGradient(w, loss), "matmul dw");
}

TEST(MatmulGradient, TiedHeadBackwardMatchesFiniteDifferences) {
  const int N = 3, K = 4, M = 6;  // w is [M,K] like wte [V,C]
  auto inp = RandomVector(N * K, 13);
  auto w = RandomVector(M * K, 14);
  const auto dout = RandomVector(N * M, 15);
  std::vector<float> out(N * M), dinp(N * K, 0.0f), dw(M * K, 0.0f);
  matmul_wt_backward(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), N, K, M);
  auto loss = [&] {
    ref::matmul_wt_forward(out.data(), inp.data(), w.data(), N, K, M);
    return Dot(out, dout);
  };
  ExpectGradient(dinp, NumericalGradient(inp, loss), "matmul_wt dinp");
  ExpectGradient(dw, NumericalGradient(w, loss), "matmul_wt dw");
}

}  // namespace
}  // namespace ratchet::train

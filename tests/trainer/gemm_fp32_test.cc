// The fp32 products' two libraries (trainer/gemm_fp32.h): oneDNN's f32
// pieces agree with OpenBLAS's and with a naive double product on odd
// shapes, strides and both betas, are bitwise the same for any thread count,
// and the choice falls back to OpenBLAS where oneDNN cannot run AVX-512.
#include "trainer/gemm_fp32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/dnnl_pieces.h"

namespace ratchet::train {
namespace {

using namespace testing;

TEST(ChooseFp32Gemm, TakesOneDnnOnlyWhereItIsAvailableAndRunsAvx512) {
  EXPECT_EQ(ChooseFp32Gemm(true, true), Fp32Gemm::kOneDnn);
  EXPECT_EQ(ChooseFp32Gemm(true, false), Fp32Gemm::kOpenBlas);  // AVX2 only: not measured
  EXPECT_EQ(ChooseFp32Gemm(false, true), Fp32Gemm::kOpenBlas);  // oneDNN cannot run here
  EXPECT_EQ(ChooseFp32Gemm(false, false), Fp32Gemm::kOpenBlas);
}

TEST(ChooseFp32Gemm, ThisProcessFollowsTheRuleForThisCpu) {
  // RATCHET_FP32_GEMM is a benchmark's knob; ctest does not set it.
  if (std::getenv("RATCHET_FP32_GEMM")) GTEST_SKIP() << "RATCHET_FP32_GEMM is set";
  EXPECT_EQ(Fp32GemmHere(), dnnl_has_avx512() ? Fp32Gemm::kOneDnn : Fp32Gemm::kOpenBlas)
      << "oneDNN ISA " << dnnl_isa_name();
}

struct GemmCase {
  bool ta, tb;
  int M, N, K;
  float beta;
};

// C[M,N] = op(A) op(B) + beta C in double, row-major with leading dims.
void NaiveGemm(const GemmCase& k, const std::vector<float>& A, int lda, const std::vector<float>& B,
               int ldb, std::vector<float>& C, int ldc) {
  for (int i = 0; i < k.M; i++) {
    for (int j = 0; j < k.N; j++) {
      double s = 0.0;
      for (int p = 0; p < k.K; p++) {
        const double a = k.ta ? A[size_t(p) * lda + i] : A[size_t(i) * lda + p];
        const double b = k.tb ? B[size_t(j) * ldb + p] : B[size_t(p) * ldb + j];
        s += a * b;
      }
      float& c = C[size_t(i) * ldc + j];
      c = static_cast<float>(s + k.beta * double(c));
    }
  }
}

class Fp32GemmTest : public ::testing::TestWithParam<GemmCase> {};

// Strided operands (a piece that mistook a stride for a width reads the
// wrong elements); C's padding must come back untouched. Tolerance: f32 sums
// of K unit normal products err by ~6e-8 sqrt(K) sd per element, in either
// library; stated 1e-5 sqrt(K) absolute + 1e-5 relative (the worst seen is
// far below it), so the libraries agree with the naive double product, and
// with each other within twice that.
TEST_P(Fp32GemmTest, OneDnnAndOpenBlasBothMatchTheNaiveProduct) {
  if (!dnnl_has_avx512()) GTEST_SKIP() << "oneDNN runs " << dnnl_isa_name() << " here";
  const GemmCase k = GetParam();
  const int a_rows = k.ta ? k.K : k.M, a_cols = k.ta ? k.M : k.K;
  const int b_rows = k.tb ? k.N : k.K, b_cols = k.tb ? k.K : k.N;
  const int lda = a_cols + 3, ldb = b_cols + 5, ldc = k.N + 7;
  const auto A = RandomVector(size_t(a_rows) * lda, 1);
  const auto B = RandomVector(size_t(b_rows) * ldb, 2);
  const auto C0 = RandomVector(size_t(k.M) * ldc, 3);
  std::vector<float> onednn = C0, openblas = C0, naive = C0;
  fp32gemm_pieces(Fp32Gemm::kOneDnn, k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb,
                  k.beta, onednn.data(), ldc);
  fp32gemm_pieces(Fp32Gemm::kOpenBlas, k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb,
                  k.beta, openblas.data(), ldc);
  NaiveGemm(k, A, lda, B, ldb, naive, ldc);
  const double atol = 1e-5 * std::sqrt(double(k.K));
  EXPECT_TRUE(AllClose(onednn, naive, 1e-5, atol));
  EXPECT_TRUE(AllClose(openblas, naive, 1e-5, atol));
  EXPECT_TRUE(AllClose(onednn, openblas, 2e-5, 2 * atol));
  for (int i = 0; i < k.M; i++) {
    for (int j = k.N; j < ldc; j++) {
      ASSERT_EQ(onednn[size_t(i) * ldc + j], C0[size_t(i) * ldc + j]) << i << "," << j;
    }
  }
}

// Every output element comes from the same piece whatever the thread count.
TEST_P(Fp32GemmTest, OneDnnIsBitwiseTheSameForAnyThreadCount) {
  if (!dnnl_has_avx512()) GTEST_SKIP() << "oneDNN runs " << dnnl_isa_name() << " here";
  const GemmCase k = GetParam();
  const int lda = k.ta ? k.M : k.K, ldb = k.tb ? k.K : k.N;
  const auto A = RandomVector(size_t(k.M) * k.K, 6);
  const auto B = RandomVector(size_t(k.K) * k.N, 7);
  const auto C0 = RandomVector(size_t(k.M) * k.N, 8);
  std::vector<float> results[4];
  const int threads[4] = {1, 1, 2, 3};
  for (int i = 0; i < 4; i++) {
    results[i] = C0;
    WithThreads(threads[i], [&] {
      fp32gemm_pieces(Fp32Gemm::kOneDnn, k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb,
                      k.beta, results[i].data(), k.N);
    });
  }
  for (int i = 1; i < 4; i++) EXPECT_TRUE(BitwiseEqual(results[0], results[i])) << threads[i];
}

// Cut by rows and by columns, every transpose, a short last piece, a long
// inner sum, and tiny's shapes (forward, input and weight gradient).
INSTANTIATE_TEST_SUITE_P(Shapes, Fp32GemmTest,
                         ::testing::Values(GemmCase{false, false, 3, 2, 5, 0.0f},
                                           GemmCase{false, false, 600, 40, 17, 1.0f},
                                           GemmCase{true, false, 40, 600, 17, 0.0f},
                                           GemmCase{false, true, 517, 33, 9, 1.0f},
                                           GemmCase{true, true, 21, 611, 13, 0.0f},
                                           GemmCase{true, false, 300, 40, 1100, 1.0f},
                                           GemmCase{false, false, 2048, 384, 128, 0.0f},
                                           GemmCase{false, true, 2048, 128, 512, 1.0f},
                                           GemmCase{true, false, 128, 512, 2048, 1.0f}));

}  // namespace
}  // namespace ratchet::train

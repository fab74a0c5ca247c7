#include "trainer/gemm_pieces.h"

#include <gtest/gtest.h>
#include <strings.h>

#include <cstdlib>
#include <vector>

#include "tests/trainer/ops_test_util.h"

extern "C" char* openblas_get_corename(void);

namespace ratchet::train {
namespace {

using namespace testing;

// C[M,N] = alpha op(A) op(B) + beta C in double, row-major with leading dims.
void NaiveGemm(bool ta, bool tb, int M, int N, int K, float alpha, const std::vector<float>& A,
               int lda, const std::vector<float>& B, int ldb, float beta, std::vector<float>& C,
               int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double s = 0.0;
      for (int k = 0; k < K; k++) {
        const double a = ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k];
        const double b = tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
        s += a * b;
      }
      float& c = C[size_t(i) * ldc + j];
      c = static_cast<float>(alpha * s + beta * double(c));
    }
  }
}

TEST(ProductPieces, ArePowersOfTwoAtLeastMinWideAndAtMostTheCap) {
  EXPECT_EQ(product_pieces(1), 1);
  EXPECT_EQ(product_pieces(511), 1);
  EXPECT_EQ(product_pieces(512), 2);
  EXPECT_EQ(product_pieces(1000), 2);  // 4 pieces would be 250 wide
  EXPECT_EQ(product_pieces(1024), 4);
  EXPECT_EQ(product_pieces(4096), 16);
  EXPECT_EQ(product_pieces(1 << 20), kMaxPieces);
  EXPECT_EQ(product_pieces(128, 32), 4);
}

struct GemmCase {
  bool ta, tb;
  int M, N, K;
};

class SgemmPiecesTest : public ::testing::TestWithParam<GemmCase> {};

// Operands with leading dimensions wider than the matrices, so a piece that
// mistook a stride for a width would read or write the wrong elements; the
// padding of C must come back untouched.
TEST_P(SgemmPiecesTest, MatchesNaiveProductAndLeavesThePaddingAlone) {
  const GemmCase k = GetParam();
  const int a_rows = k.ta ? k.K : k.M, a_cols = k.ta ? k.M : k.K;
  const int b_rows = k.tb ? k.N : k.K, b_cols = k.tb ? k.K : k.N;
  const int lda = a_cols + 3, ldb = b_cols + 5, ldc = k.N + 7;
  const auto A = RandomVector(size_t(a_rows) * lda, 1);
  const auto B = RandomVector(size_t(b_rows) * ldb, 2);
  const auto C0 = RandomVector(size_t(k.M) * ldc, 3);
  std::vector<float> fast = C0, naive = C0;
  sgemm_pieces(k.ta, k.tb, k.M, k.N, k.K, 0.5f, A.data(), lda, B.data(), ldb, -1.5f, fast.data(),
               ldc);
  NaiveGemm(k.ta, k.tb, k.M, k.N, k.K, 0.5f, A, lda, B, ldb, -1.5f, naive, ldc);
  EXPECT_TRUE(AllClose(fast, naive, 1e-5, 1e-4));
  for (int i = 0; i < k.M; i++) {
    for (int j = k.N; j < ldc; j++) {
      ASSERT_EQ(fast[size_t(i) * ldc + j], C0[size_t(i) * ldc + j]) << i << "," << j;
    }
  }
}

// Every output element comes from the same piece whatever the thread count:
// 3 threads share 4 or 16 pieces unevenly, 1 runs them all.
TEST_P(SgemmPiecesTest, IsBitwiseTheSameForAnyThreadCount) {
  const GemmCase k = GetParam();
  const int lda = k.ta ? k.M : k.K, ldb = k.tb ? k.K : k.N;
  const auto A = RandomVector(size_t(k.M) * k.K, 4);
  const auto B = RandomVector(size_t(k.K) * k.N, 5);
  const auto C0 = RandomVector(size_t(k.M) * k.N, 6);
  std::vector<float> results[4];
  const int threads[4] = {1, 1, 2, 3};
  for (int i = 0; i < 4; i++) {
    results[i] = C0;
    WithThreads(threads[i], [&] {
      sgemm_pieces(k.ta, k.tb, k.M, k.N, k.K, 1.0f, A.data(), lda, B.data(), ldb, 1.0f,
                   results[i].data(), k.N);
    });
  }
  for (int i = 1; i < 4; i++) EXPECT_TRUE(BitwiseEqual(results[0], results[i])) << threads[i];
}

// Cut by rows (M >= N) and by columns, every transpose, widths that are not
// multiples of 16 (a short last piece), a long inner sum (narrower pieces),
// and the trainer's shapes: forward
// [4096 x 768 x 256], input gradient, weight gradient with the long K sum.
INSTANTIATE_TEST_SUITE_P(
    Shapes, SgemmPiecesTest,
    ::testing::Values(GemmCase{false, false, 3, 2, 5}, GemmCase{false, false, 600, 40, 17},
                      GemmCase{true, false, 40, 600, 17}, GemmCase{false, true, 517, 33, 9},
                      GemmCase{true, true, 21, 611, 13}, GemmCase{true, false, 300, 40, 1100},
                      GemmCase{false, false, 2048, 768, 256}, GemmCase{false, true, 2048, 256, 768},
                      GemmCase{true, false, 256, 768, 2048}));

TEST(SsyrkPieces, IsExactlySymmetricAndMatchesTheFullProduct) {
  for (int m : {5, 40, 200, 384}) {
    const int k = 2 * m + 1, lda = k + 2;
    const auto A = RandomVector(size_t(m) * lda, 7);
    const auto C0 = RandomVector(size_t(m) * m, 8);
    std::vector<float> C0_symmetric = C0;
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < i; j++) C0_symmetric[size_t(i) * m + j] = C0[size_t(j) * m + i];
    }
    std::vector<float> fast = C0, naive = C0_symmetric;
    ssyrk_pieces(m, k, 2.0f, A.data(), lda, 0.5f, fast.data(), m);
    NaiveGemm(false, true, m, m, k, 2.0f, A, lda, A, lda, 0.5f, naive, m);
    EXPECT_TRUE(AllClose(fast, naive, 1e-5, 1e-3)) << m;
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < i; j++) {
        ASSERT_EQ(fast[size_t(i) * m + j], fast[size_t(j) * m + i]) << m << ": " << i << "," << j;
      }
    }
  }
}

TEST(SsyrkPieces, IsBitwiseTheSameForAnyThreadCount) {
  const int m = 384, k = 1536;
  const auto A = RandomVector(size_t(m) * k, 9);
  std::vector<float> results[4];
  const int threads[4] = {1, 1, 2, 3};
  for (int i = 0; i < 4; i++) {
    results[i].assign(size_t(m) * m, 0.0f);
    WithThreads(threads[i],
                [&] { ssyrk_pieces(m, k, 1.0f, A.data(), k, 0.0f, results[i].data(), m); });
  }
  for (int i = 1; i < 4; i++) EXPECT_TRUE(BitwiseEqual(results[0], results[i])) << threads[i];
}

// scripts/test runs the BLAS-dependent tests again under forced kernels; this
// fails if the variable did not reach OpenBLAS (or it fell back to another
// kernel), which would leave those runs testing the default kernel twice.
TEST(BlasKernel, IsTheOneOpenblasCoretypeAsksFor) {
  const char* wanted = std::getenv("OPENBLAS_CORETYPE");
  if (wanted == nullptr || *wanted == '\0') GTEST_SKIP() << "OPENBLAS_CORETYPE is not set";
  EXPECT_EQ(strcasecmp(openblas_get_corename(), wanted), 0)
      << "OPENBLAS_CORETYPE=" << wanted << " but OpenBLAS runs " << openblas_get_corename();
}

}  // namespace
}  // namespace ratchet::train

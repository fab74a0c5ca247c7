// The bf16 products (trainer/gemm_bf16.h): exact up to f32 summation against
// a naive product of the bf16-rounded operands, close to the FP32 product
// within bf16's precision, and bitwise the same for any thread count. Skipped
// on a CPU without avx512_bf16, saying so.
#include "trainer/gemm_bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/gemm_pieces.h"

namespace ratchet::train {
namespace {

using namespace testing;

#define SKIP_WITHOUT_BF16()                                                              \
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature << " (bf16 " \
                                     << "products are refused on it)"

std::vector<float> Rounded(const std::vector<float>& x) {
  std::vector<float> r(x.size());
  round_to_bf16(r.data(), x.data(), x.size());
  return r;
}

// C[M,N] = op(A) op(B) + beta C in double, row-major with leading dims.
void NaiveGemm(bool ta, bool tb, int M, int N, int K, const std::vector<float>& A, int lda,
               const std::vector<float>& B, int ldb, float beta, std::vector<float>& C, int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double s = 0.0;
      for (int k = 0; k < K; k++) {
        const double a = ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k];
        const double b = tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
        s += a * b;
      }
      float& c = C[size_t(i) * ldc + j];
      c = static_cast<float>(s + beta * double(c));
    }
  }
}

TEST(RoundToBf16, RoundsToNearestEvenAndKeepsEightBitsOfMantissa) {
  const std::vector<float> in = {1.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f, 1e-30f,
                                 INFINITY, NAN};
  const std::vector<float> out = Rounded(in);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f);                 // halfway: to the even neighbour
  EXPECT_EQ(out[2], 1.0f + 4.0f / 256);    // halfway: up to the even one
  EXPECT_EQ(out[3], -2.5f);
  EXPECT_NEAR(out[4], 1e-30f, 1e-32f);
  EXPECT_EQ(out[5], INFINITY);
  EXPECT_TRUE(std::isnan(out[6]));
}

struct GemmCase {
  bool ta, tb;
  int M, N, K;
  float beta;
};

class Bf16GemmTest : public ::testing::TestWithParam<GemmCase> {};

// Strided operands (a piece that mistook a stride for a width reads the
// wrong elements); C's padding must come back untouched.
TEST_P(Bf16GemmTest, IsTheProductOfTheRoundedOperandsSummedInF32) {
  SKIP_WITHOUT_BF16();
  const GemmCase k = GetParam();
  const int a_rows = k.ta ? k.K : k.M, a_cols = k.ta ? k.M : k.K;
  const int b_rows = k.tb ? k.N : k.K, b_cols = k.tb ? k.K : k.N;
  const int lda = a_cols + 3, ldb = b_cols + 5, ldc = k.N + 7;
  const auto A = RandomVector(size_t(a_rows) * lda, 1);
  const auto B = RandomVector(size_t(b_rows) * ldb, 2);
  const auto C0 = RandomVector(size_t(k.M) * ldc, 3);
  std::vector<float> fast = C0, naive = C0;
  bf16gemm_pieces(k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb, k.beta, fast.data(),
                  ldc);
  NaiveGemm(k.ta, k.tb, k.M, k.N, k.K, Rounded(A), lda, Rounded(B), ldb, k.beta, naive, ldc);
  // Products of bf16 values are exact in f32; only the f32 sums round.
  EXPECT_TRUE(AllClose(fast, naive, 1e-5, 1e-4 * std::sqrt(double(k.K))));
  for (int i = 0; i < k.M; i++) {
    for (int j = k.N; j < ldc; j++) {
      ASSERT_EQ(fast[size_t(i) * ldc + j], C0[size_t(i) * ldc + j]) << i << "," << j;
    }
  }
}

// Against the FP32 product: rounding each operand to bf16 errs by up to 2^-8
// relative (uniform), so a term of unit normal operands errs with sd ~0.0032
// and a sum of K with sd ~0.0032 sqrt(K). Stated tolerance 0.03 sqrt(K)
// absolute (~9 sd; the worst of these ~10^6 results is ~0.014 sqrt(K)).
TEST_P(Bf16GemmTest, IsWithinBf16PrecisionOfTheFp32Product) {
  SKIP_WITHOUT_BF16();
  const GemmCase k = GetParam();
  const int lda = k.ta ? k.M : k.K, ldb = k.tb ? k.K : k.N;
  const auto A = RandomVector(size_t(k.M) * k.K, 4);
  const auto B = RandomVector(size_t(k.K) * k.N, 5);
  std::vector<float> bf16(size_t(k.M) * k.N, 0.0f), fp32 = bf16;
  bf16gemm_pieces(k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb, 0.0f, bf16.data(), k.N);
  sgemm_pieces(k.ta, k.tb, k.M, k.N, k.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, fp32.data(),
               k.N);
  EXPECT_TRUE(AllClose(bf16, fp32, 0.0, 0.03 * std::sqrt(double(k.K))));
  EXPECT_FALSE(BitwiseEqual(bf16, fp32));  // the rounding really happened
}

// Every output element comes from the same piece whatever the thread count.
TEST_P(Bf16GemmTest, IsBitwiseTheSameForAnyThreadCount) {
  SKIP_WITHOUT_BF16();
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
      bf16gemm_pieces(k.ta, k.tb, k.M, k.N, k.K, A.data(), lda, B.data(), ldb, k.beta,
                      results[i].data(), k.N);
    });
  }
  for (int i = 1; i < 4; i++) EXPECT_TRUE(BitwiseEqual(results[0], results[i])) << threads[i];
}

// Cut by rows and by columns, every transpose, a short last piece, a long
// inner sum, and the trainer's shapes (forward, input and weight gradient).
INSTANTIATE_TEST_SUITE_P(
    Shapes, Bf16GemmTest,
    ::testing::Values(GemmCase{false, false, 3, 2, 5, 0.0f}, GemmCase{false, false, 600, 40, 17, 1.0f},
                      GemmCase{true, false, 40, 600, 17, 0.0f}, GemmCase{false, true, 517, 33, 9, 1.0f},
                      GemmCase{true, true, 21, 611, 13, 0.0f}, GemmCase{true, false, 300, 40, 1100, 1.0f},
                      GemmCase{false, false, 2048, 768, 256, 0.0f},
                      GemmCase{false, true, 2048, 256, 768, 0.0f},
                      GemmCase{true, false, 256, 768, 2048, 1.0f}));

}  // namespace
}  // namespace ratchet::train

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

// Singular values of x [rows,cols]: square roots of the eigenvalues of the
// small Gram matrix, found by cyclic Jacobi rotations (double).
std::vector<double> SingularValues(const std::vector<float>& x, int rows, int cols) {
  const bool wide = rows <= cols;
  const int m = wide ? rows : cols, n = wide ? cols : rows;
  auto at = [&](int i, int k) { return wide ? double(x[i * cols + k]) : double(x[k * cols + i]); };
  std::vector<double> a(m * m);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < m; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += at(i, k) * at(j, k);
      a[i * m + j] = s;
    }
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int p = 0; p < m; p++)
      for (int q = p + 1; q < m; q++) off += a[p * m + q] * a[p * m + q];
    if (off < 1e-24) break;
    for (int p = 0; p < m; p++) {
      for (int q = p + 1; q < m; q++) {
        if (std::fabs(a[p * m + q]) < 1e-300) continue;
        const double theta = (a[q * m + q] - a[p * m + p]) / (2 * a[p * m + q]);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < m; k++) {  // rotate columns p, q
          const double akp = a[k * m + p], akq = a[k * m + q];
          a[k * m + p] = c * akp - s * akq;
          a[k * m + q] = s * akp + c * akq;
        }
        for (int k = 0; k < m; k++) {  // rotate rows p, q
          const double apk = a[p * m + k], aqk = a[q * m + k];
          a[p * m + k] = c * apk - s * aqk;
          a[q * m + k] = s * apk + c * aqk;
        }
      }
    }
  }
  std::vector<double> sv(m);
  for (int i = 0; i < m; i++) sv[i] = std::sqrt(std::max(0.0, a[i * m + i]));
  return sv;
}

std::vector<float> RunFast(const std::vector<float>& g, int rows, int cols) {
  std::vector<float> out(g.size());
  std::vector<float> scratch(newton_schulz_scratch_floats(rows, cols), NAN);
  newton_schulz(out.data(), g.data(), scratch.data(), rows, cols);
  return out;
}

struct Shape {
  int rows, cols;
};

class NewtonSchulzTest : public ::testing::TestWithParam<Shape> {};

TEST_P(NewtonSchulzTest, PushesSingularValuesNearOneAndMatchesNaive) {
  const auto [rows, cols] = GetParam();
  // Scaled input: the result must not depend on the scale.
  const auto g = RandomVector(size_t(rows) * cols, 1, 0.02f);
  const std::vector<float> fast = RunFast(g, rows, cols);
  std::vector<float> naive(g.size());
  ref::newton_schulz(naive.data(), g.data(), nullptr, rows, cols);
  EXPECT_TRUE(AllClose(fast, naive, 1e-3, 2e-4));
  const std::vector<double> before = SingularValues(g, rows, cols);
  double spread_before = *std::max_element(before.begin(), before.end()) /
                         *std::min_element(before.begin(), before.end());
  EXPECT_GT(spread_before, 2.0);  // the input is far from orthogonal
  for (double s : SingularValues(fast, rows, cols)) {
    EXPECT_GT(s, 0.6);
    EXPECT_LT(s, 1.3);
  }
}

TEST_P(NewtonSchulzTest, IsDeterministicAndThreadCountInvariantAndMayRunInPlace) {
  const auto [rows, cols] = GetParam();
  const auto g = RandomVector(size_t(rows) * cols, 2);
  std::vector<float> r[3];
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) WithThreads(threads[i], [&] { r[i] = RunFast(g, rows, cols); });
  EXPECT_TRUE(BitwiseEqual(r[0], r[1]));
  EXPECT_TRUE(BitwiseEqual(r[0], r[2]));
  std::vector<float> in_place = g;
  std::vector<float> scratch(newton_schulz_scratch_floats(rows, cols));
  newton_schulz(in_place.data(), in_place.data(), scratch.data(), rows, cols);
  EXPECT_TRUE(BitwiseEqual(in_place, r[0]));
}

// Wide, tall (transposed internally) and transformer-like shapes.
INSTANTIATE_TEST_SUITE_P(Shapes, NewtonSchulzTest,
                         ::testing::Values(Shape{8, 24}, Shape{24, 8}, Shape{12, 36},
                                           Shape{64, 192}, Shape{128, 32}));

TEST(NewtonSchulz, ModelSizedMatrixIsThreadCountInvariant) {
  // 256 x 1024 (an MLP weight of the `small` config): its products are cut
  // into several pieces, which 2 or 3 threads share.
  const int rows = 1024, cols = 256;
  const auto g = RandomVector(size_t(rows) * cols, 3);
  std::vector<float> one;
  WithThreads(1, [&] { one = RunFast(g, rows, cols); });
  for (int threads : {2, 3}) {
    std::vector<float> more;
    WithThreads(threads, [&] { more = RunFast(g, rows, cols); });
    EXPECT_TRUE(BitwiseEqual(one, more)) << threads;
  }
}

TEST(NewtonSchulz, OrthogonalInputStaysNearlyOrthogonal) {
  // A permutation-like matrix already has all singular values 1.
  const int n = 6;
  std::vector<float> g(n * n, 0.0f);
  for (int i = 0; i < n; i++) g[i * n + (i * 5 + 2) % n] = 3.0f;
  const std::vector<float> out = RunFast(g, n, n);
  for (double s : SingularValues(out, n, n)) {
    EXPECT_GT(s, 0.6);
    EXPECT_LT(s, 1.3);
  }
}

}  // namespace
}  // namespace ratchet::train

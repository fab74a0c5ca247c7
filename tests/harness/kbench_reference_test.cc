#include "harness/kbench_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ratchet::kbench {
namespace {

TEST(KbenchReference, MatmulRowIsTheDotProductsOfARowWithTheColumns) {
  // A = [[1, 2], [3, 4]], B = [[5, -6], [7, 8]]: C = [[19, 10], [43, 14]].
  const float A[] = {1, 2, 3, 4};
  const float B[] = {5, -6, 7, 8};
  double ref[2], scale[2];
  ReferenceMatmulRow(A, B, 2, 2, 1, ref, scale);
  EXPECT_DOUBLE_EQ(ref[0], 43);
  EXPECT_DOUBLE_EQ(ref[1], 14);
  // The scale is sum |a*b|: 3*6 + 4*8 = 50 for the second column.
  EXPECT_DOUBLE_EQ(scale[1], 50);
}

TEST(KbenchReference, SoftmaxOfLogTwoAndZeroIsTwoThirdsAndOneThird) {
  const float x[] = {std::log(2.0f), 0.0f};
  double ref[2], scale[2];
  ReferenceSoftmaxRow(x, 2, ref, scale);
  EXPECT_NEAR(ref[0], 2.0 / 3, 1e-7);
  EXPECT_NEAR(ref[1], 1.0 / 3, 1e-7);
}

TEST(KbenchReference, SoftmaxOfHugeEqualValuesIsUniform) {
  const float x[] = {1e30f, 1e30f, 1e30f, 1e30f};
  double ref[4], scale[4];
  ReferenceSoftmaxRow(x, 4, ref, scale);
  for (double r : ref) EXPECT_DOUBLE_EQ(r, 0.25);
}

TEST(KbenchReference, RmsnormOfThreeAndFourDividesByTheirRms) {
  // rms of (3, 4) = sqrt(12.5); eps 0.
  const float x[] = {3, 4};
  const float w[] = {1, 2};
  double ref[2], scale[2];
  ReferenceRmsnormRow(x, w, 2, 0.0, ref, scale);
  EXPECT_NEAR(ref[0], 3 / std::sqrt(12.5), 1e-12);
  EXPECT_NEAR(ref[1], 2 * 4 / std::sqrt(12.5), 1e-12);
}

TEST(KbenchReference, LayernormOfOneTwoThreeIsStandardized) {
  // mean 2, biased variance 2/3.
  const float x[] = {1, 2, 3};
  const float w[] = {1, 1, 2};
  const float b[] = {0, 5, 1};
  double ref[3], scale[3];
  ReferenceLayernormRow(x, w, b, 3, 0.0, ref, scale);
  const double sd = std::sqrt(2.0 / 3);
  EXPECT_NEAR(ref[0], -1 / sd, 1e-12);
  EXPECT_NEAR(ref[1], 5, 1e-12);
  EXPECT_NEAR(ref[2], 2 / sd + 1, 1e-12);
}

TEST(KbenchReference, AttentionAtTheFirstPositionReturnsTheFirstValue) {
  // T = 2, HS = 2. Position 0 sees only v[0].
  const float q[] = {1, 0, 0, 1};
  const float k[] = {1, 0, 0, 1};
  const float v[] = {3, -4, 10, 20};
  double ref[2], scale[2];
  ReferenceAttentionRow(q, k, v, 2, 0, ref, scale);
  EXPECT_DOUBLE_EQ(ref[0], 3);
  EXPECT_DOUBLE_EQ(ref[1], -4);
  EXPECT_DOUBLE_EQ(scale[0], 4);  // max |v| of the visible rows.
}

TEST(KbenchReference, AttentionWeighsKeysBySoftmaxOfScaledDots) {
  // Position 1: dots q1.k0 = 0, q1.k1 = 1, scaled by 1/sqrt(2).
  const float q[] = {1, 0, 0, 1};
  const float k[] = {1, 0, 0, 1};
  const float v[] = {3, -4, 10, 20};
  double ref[2], scale[2];
  ReferenceAttentionRow(q, k, v, 2, 1, ref, scale);
  const double w1 = std::exp(1 / std::sqrt(2.0)), w0 = 1;
  EXPECT_NEAR(ref[0], (w0 * 3 + w1 * 10) / (w0 + w1), 1e-12);
  EXPECT_NEAR(ref[1], (w0 * -4 + w1 * 20) / (w0 + w1), 1e-12);
}

TEST(KbenchReference, RopeRotatesTheFirstPairByThePosition) {
  // HS = 4: pair 0 turns by t radians, pair 1 by t / base^(1/2) = t / 100.
  const float x[] = {1, 0, 0, 2};
  double ref[4], scale[4];
  ReferenceRopeRow(x, 4, 3, 10000.0, ref, scale);
  EXPECT_NEAR(ref[0], std::cos(3.0), 1e-12);
  EXPECT_NEAR(ref[1], std::sin(3.0), 1e-12);
  EXPECT_NEAR(ref[2], -2 * std::sin(0.03), 1e-12);
  EXPECT_NEAR(ref[3], 2 * std::cos(0.03), 1e-12);
}

TEST(KbenchReference, RopeAtPositionZeroIsTheIdentity) {
  const float x[] = {0.5f, -1.5f};
  double ref[2], scale[2];
  ReferenceRopeRow(x, 2, 0, 10000.0, ref, scale);
  EXPECT_DOUBLE_EQ(ref[0], 0.5);
  EXPECT_DOUBLE_EQ(ref[1], -1.5);
}

}  // namespace
}  // namespace ratchet::kbench

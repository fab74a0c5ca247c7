#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/trainer/ops_test_util.h"
#include "trainer/ops.h"
#include "trainer/ops_reference.h"

namespace ratchet::train {
namespace {

using namespace testing;

struct CeRun {
  std::vector<float> losses, dlogits;
};

CeRun RunCe(bool fast, const std::vector<float>& logits, const std::vector<int32_t>& targets,
            float scale, int N, int V) {
  CeRun r{std::vector<float>(N), std::vector<float>(size_t(N) * V, 123.0f)};
  (fast ? crossentropy_forward_backward : ref::crossentropy_forward_backward)(
      r.losses.data(), r.dlogits.data(), logits.data(), targets.data(), scale, N, V);
  return r;
}

TEST(CrossEntropy, FastMatchesNaiveAndWritesRatherThanAddsDlogits) {
  for (auto [N, V] : {std::pair{7, 256}, std::pair{3, 5}, std::pair{65, 256}}) {
    const auto logits = RandomVector(size_t(N) * V, 1, 4.0f);
    const auto targets = RandomTokens(N, 2, V);
    const CeRun fast = RunCe(true, logits, targets, 0.1f, N, V);
    const CeRun naive = RunCe(false, logits, targets, 0.1f, N, V);
    EXPECT_TRUE(AllClose(fast.losses, naive.losses, 1e-5, 1e-6));
    EXPECT_TRUE(AllClose(fast.dlogits, naive.dlogits, 1e-5, 1e-7));
    std::vector<float> nll(N);
    crossentropy_nll(nll.data(), logits.data(), targets.data(), N, V);
    EXPECT_TRUE(BitwiseEqual(nll, fast.losses));
  }
}

TEST(CrossEntropy, UniformLogitsCostLogVNatsAndGradientRowsSumToZero) {
  const int N = 4, V = 256;
  const std::vector<float> logits(N * V, 0.25f);
  const auto targets = RandomTokens(N, 3, V);
  const CeRun r = RunCe(true, logits, targets, 1.0f, N, V);
  for (int n = 0; n < N; n++) {
    EXPECT_NEAR(r.losses[n], std::log(256.0), 1e-5);
    double sum = 0;
    for (int v = 0; v < V; v++) sum += r.dlogits[n * V + v];
    EXPECT_NEAR(sum, 0.0, 1e-6);
    EXPECT_NEAR(r.dlogits[n * V + targets[n]], 1.0 / 256 - 1, 1e-6);
  }
}

TEST(CrossEntropy, GradientMayOverwriteTheLogitsInPlace) {
  const int N = 5, V = 256;
  const auto logits = RandomVector(N * V, 4, 3.0f);
  const auto targets = RandomTokens(N, 5, V);
  const CeRun r = RunCe(true, logits, targets, 0.5f, N, V);
  std::vector<float> buf = logits, losses(N);
  crossentropy_forward_backward(losses.data(), buf.data(), buf.data(), targets.data(), 0.5f, N, V);
  EXPECT_TRUE(BitwiseEqual(buf, r.dlogits));
  EXPECT_TRUE(BitwiseEqual(losses, r.losses));
}

TEST(CrossEntropy, IsDeterministicAndThreadCountInvariant) {
  const int N = 301, V = 256;
  const auto logits = RandomVector(size_t(N) * V, 6, 3.0f);
  const auto targets = RandomTokens(N, 7, V);
  CeRun r[3];
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) {
    WithThreads(threads[i], [&] { r[i] = RunCe(true, logits, targets, 0.01f, N, V); });
  }
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(BitwiseEqual(r[0].losses, r[i].losses));
    EXPECT_TRUE(BitwiseEqual(r[0].dlogits, r[i].dlogits));
  }
}

TEST(CrossEntropy, GradientMatchesFiniteDifferencesOfTheScaledLoss) {
  const int N = 3, V = 7;
  const float scale = 0.25f;
  auto logits = RandomVector(N * V, 8, 2.0f);
  const auto targets = RandomTokens(N, 9, V);
  std::vector<float> losses(N);
  auto loss = [&] {
    ref::crossentropy_forward_backward(losses.data(), nullptr, logits.data(), targets.data(), 0.0f,
                                       N, V);
    double s = 0;
    for (float l : losses) s += scale * double(l);
    return s;
  };
  for (bool fast : {true, false}) {
    const CeRun r = RunCe(fast, logits, targets, scale, N, V);
    ExpectGradient(r.dlogits, NumericalGradient(logits, loss, 1e-3f), "dlogits");
  }
}

// ---------------------------------------------------------------- softcap

TEST(Softcap, FastMatchesNaiveInPlaceAndThreadCountInvariant) {
  const size_t n = 10007;
  const float cap = 15.0f;
  const auto inp = RandomVector(n, 10, 20.0f);
  const auto dout = RandomVector(n, 11);
  std::vector<float> out_ref(n), dinp_ref(n, 0.5f);
  ref::softcap_forward(out_ref.data(), inp.data(), cap, n);
  ref::softcap_backward(dinp_ref.data(), dout.data(), out_ref.data(), cap, n);
  std::vector<float> out[3], dinp[3];
  const int threads[3] = {1, 1, 2};
  for (int i = 0; i < 3; i++) {
    out[i].resize(n);
    dinp[i].assign(n, 0.5f);
    WithThreads(threads[i], [&] {
      softcap_forward(out[i].data(), inp.data(), cap, n);
      softcap_backward(dinp[i].data(), dout.data(), out[i].data(), cap, n);
    });
  }
  EXPECT_TRUE(AllClose(out[0], out_ref, 1e-6, 1e-6));
  EXPECT_TRUE(AllClose(dinp[0], dinp_ref, 1e-5, 1e-5));
  for (int i = 1; i < 3; i++) {
    EXPECT_TRUE(BitwiseEqual(out[0], out[i]));
    EXPECT_TRUE(BitwiseEqual(dinp[0], dinp[i]));
  }
  std::vector<float> in_place = inp;
  softcap_forward(in_place.data(), in_place.data(), cap, n);
  EXPECT_TRUE(BitwiseEqual(in_place, out[0]));
  for (float v : out[0]) ASSERT_LE(std::fabs(v), cap);
}

TEST(Softcap, BackwardMatchesFiniteDifferences) {
  const size_t n = 8;
  const float cap = 3.0f;
  auto inp = RandomVector(n, 12, 4.0f);
  const auto w = RandomVector(n, 13);
  std::vector<float> out(n);
  for (bool fast : {true, false}) {
    std::vector<float> dinp(n, 0.0f);
    (fast ? softcap_forward : ref::softcap_forward)(out.data(), inp.data(), cap, n);
    (fast ? softcap_backward : ref::softcap_backward)(dinp.data(), w.data(), out.data(), cap, n);
    auto loss = [&] {
      ref::softcap_forward(out.data(), inp.data(), cap, n);
      return Dot(out, w);
    };
    ExpectGradient(dinp, NumericalGradient(inp, loss, 1e-3f), "softcap dinp");
  }
}

}  // namespace
}  // namespace ratchet::train

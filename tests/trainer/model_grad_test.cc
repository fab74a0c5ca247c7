// Whole-model finite-difference gradient checks: for every tensor, a random
// sample of its parameters is nudged both ways and the central difference of
// the loss is compared with the backward's gradient, under every choice of
// activation, norm, positions, tying, qk_norm and softcap.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "trainer/gemm_bf16.h"
#include "trainer/model.h"
#include "tests/trainer/ops_test_util.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

struct Variant {
  std::string name;
  nlohmann::json overrides;
};

class ModelGradTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ModelGradTest, BackwardMatchesFiniteDifferencesForEveryTensor) {
  Config c = testing::TinyConfig(GetParam().overrides);
  const int B = c.batch_size, T = c.seq_len;
  Model model(c, B, T, /*training=*/true);
  model.InitParams(7);
  std::mt19937 rng(3);
  std::vector<uint8_t> in(B * T), tg(B * T);
  for (auto& x : in) x = static_cast<uint8_t>(rng() % 256);
  for (auto& x : tg) x = static_cast<uint8_t>(rng() % 256);

  model.ZeroGrads();
  const float loss = model.ForwardBackward(in.data(), tg.data(), B, T, 1.0f);
  EXPECT_NEAR(model.ForwardLoss(in.data(), tg.data(), B, T), loss, 1e-6);
  const std::vector<float> grads(model.grads(), model.grads() + model.num_params());

  const float eps = 1e-2f;
  for (const TensorInfo& t : model.tensors()) {
    double diff2 = 0, fd2 = 0, an2 = 0;
    const int samples = static_cast<int>(std::min<size_t>(t.numel, 8));
    for (int s = 0; s < samples; ++s) {
      const size_t i = t.offset + rng() % t.numel;
      float* p = model.params() + i;
      const float saved = *p;
      *p = saved + eps;
      const double plus = model.ForwardLoss(in.data(), tg.data(), B, T);
      *p = saved - eps;
      const double minus = model.ForwardLoss(in.data(), tg.data(), B, T);
      *p = saved;
      const double fd = (plus - minus) / (2.0 * eps);
      diff2 += (fd - grads[i]) * (fd - grads[i]);
      fd2 += fd * fd;
      an2 += static_cast<double>(grads[i]) * grads[i];
    }
    const double err = std::sqrt(diff2), scale = std::max(std::sqrt(fd2), std::sqrt(an2));
    EXPECT_LE(err, 0.03 * scale + 2e-4) << GetParam().name << " " << t.name << ": |fd| "
                                        << std::sqrt(fd2) << " |backward| " << std::sqrt(an2);
  }
  // The check is only meaningful if gradients are not all zero.
  double total = 0;
  for (float g : grads) total += std::fabs(g);
  EXPECT_GT(total, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ModelGradTest,
    ::testing::Values(Variant{"gelu_layernorm_learned", nlohmann::json::object()},
                      Variant{"relu2", {{"activation", "relu2"}}},
                      Variant{"swiglu", {{"activation", "swiglu"}}},
                      Variant{"rmsnorm", {{"norm", "rmsnorm"}}},
                      Variant{"rope", {{"pos", "rope"}}},
                      Variant{"tied", {{"tie_embeddings", true}}},
                      Variant{"qk_norm", {{"qk_norm", true}}},
                      Variant{"softcap", {{"logit_softcap", 2.0}}},
                      Variant{"everything",
                              {{"activation", "swiglu"},
                               {"norm", "rmsnorm"},
                               {"pos", "rope"},
                               {"tie_embeddings", true},
                               {"qk_norm", true},
                               {"logit_softcap", 3.0}}}),
    [](const ::testing::TestParamInfo<Variant>& info) { return info.param.name; });

// "precision": "bf16" rounds only the matrix products' operands, so its loss
// and gradients must stay within bf16's precision of the FP32 ones (whose
// backward the finite differences above check). Stated tolerance: loss
// within 1% relative, each tensor's gradient within 5% relative L2 (measured
// 0.1-1.1% on these shapes).
TEST_P(ModelGradTest, Bf16GradientsAreWithinBf16PrecisionOfTheFp32Ones) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  Config c32 = testing::TinyConfig(GetParam().overrides);
  Config c16 = c32;
  c16.precision = Precision::kBf16;
  const int B = c32.batch_size, T = c32.seq_len;
  Model fp32(c32, B, T, /*training=*/true), bf16(c16, B, T, /*training=*/true);
  fp32.InitParams(7);
  bf16.InitParams(7);
  std::mt19937 rng(3);
  std::vector<uint8_t> in(B * T), tg(B * T);
  for (auto& x : in) x = static_cast<uint8_t>(rng() % 256);
  for (auto& x : tg) x = static_cast<uint8_t>(rng() % 256);
  fp32.ZeroGrads();
  bf16.ZeroGrads();
  const float loss32 = fp32.ForwardBackward(in.data(), tg.data(), B, T, 1.0f);
  const float loss16 = bf16.ForwardBackward(in.data(), tg.data(), B, T, 1.0f);
  EXPECT_NEAR(loss16, loss32, 1e-2 * loss32);
  EXPECT_NE(loss16, loss32);  // the bf16 path really ran
  for (const TensorInfo& t : fp32.tensors()) {
    double diff2 = 0, ref2 = 0;
    for (size_t i = t.offset; i < t.offset + t.numel; i++) {
      const double d = double(bf16.grads()[i]) - fp32.grads()[i];
      diff2 += d * d;
      ref2 += double(fp32.grads()[i]) * fp32.grads()[i];
    }
    EXPECT_LE(std::sqrt(diff2), 0.05 * std::sqrt(ref2) + 1e-6)
        << GetParam().name << " " << t.name << ": relative error "
        << std::sqrt(diff2 / std::max(ref2, 1e-30));
  }
}

// The bf16 copies of the weights are made in every forward: a model whose
// params were rewritten after a step (as the optimizer does) computes what a
// fresh model given those params computes, bit for bit, on 1 or 2 threads.
TEST_P(ModelGradTest, Bf16StepsFollowRewrittenParamsAndAnyThreadCount) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  Config c = testing::TinyConfig(GetParam().overrides);
  c.precision = Precision::kBf16;
  const int B = c.batch_size, T = c.seq_len;
  std::mt19937 rng(5);
  std::vector<uint8_t> in(B * T), tg(B * T);
  for (auto& x : in) x = static_cast<uint8_t>(rng() % 256);
  for (auto& x : tg) x = static_cast<uint8_t>(rng() % 256);
  Model stepped(c, B, T, /*training=*/true);
  stepped.InitParams(7);
  stepped.ZeroGrads();
  stepped.ForwardBackward(in.data(), tg.data(), B, T, 1.0f);
  for (size_t i = 0; i < stepped.num_params(); i++) {
    stepped.params()[i] -= 0.5f * stepped.grads()[i];
  }
  stepped.ZeroGrads();
  const float loss = stepped.ForwardBackward(in.data(), tg.data(), B, T, 1.0f);
  const std::vector<float> grads(stepped.grads(), stepped.grads() + stepped.num_params());
  for (int threads : {1, 2}) {
    testing::WithThreads(threads, [&] {
      Model fresh(c, B, T, /*training=*/true);
      std::copy(stepped.params(), stepped.params() + stepped.num_params(), fresh.params());
      fresh.ZeroGrads();
      EXPECT_EQ(fresh.ForwardBackward(in.data(), tg.data(), B, T, 1.0f), loss) << threads;
      const std::vector<float> g(fresh.grads(), fresh.grads() + fresh.num_params());
      EXPECT_TRUE(testing::BitwiseEqual(g, grads)) << GetParam().name << " " << threads;
    });
  }
}

}  // namespace
}  // namespace ratchet::train

#include "trainer/model.h"

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "trainer/optimizer.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

std::vector<std::string> Names(const std::vector<TensorInfo>& layout) {
  std::vector<std::string> out;
  for (const auto& t : layout) out.push_back(t.name);
  return out;
}

TEST(ModelTest, LayoutFollowsTheContractOrderAndShapes) {
  Config c = testing::TinyConfig({{"n_layer", 1}});
  auto layout = ParamLayout(c);
  EXPECT_EQ(Names(layout),
            (std::vector<std::string>{"wte", "wpe", "h0.ln1.g", "h0.ln1.b", "h0.attn.wqkv",
                                      "h0.attn.wo", "h0.ln2.g", "h0.ln2.b", "h0.mlp.wfc",
                                      "h0.mlp.wproj", "lnf.g", "lnf.b", "lm_head"}));
  EXPECT_EQ(layout[4].shape, (std::vector<int>{16, 48}));
  EXPECT_EQ(layout[8].shape, (std::vector<int>{16, 32}));
  EXPECT_EQ(layout[9].shape, (std::vector<int>{32, 16}));
  EXPECT_EQ(layout.back().shape, (std::vector<int>{16, 256}));
  size_t offset = 0;
  for (const auto& t : layout) {
    EXPECT_EQ(t.offset, offset) << t.name;
    offset += t.numel;
  }
  Model model(c, 2, 8, false);
  EXPECT_EQ(model.num_params(), offset);
  EXPECT_EQ(model.grads(), nullptr);
}

TEST(ModelTest, RmsnormRopeTiedSwigluLayoutDropsBiasesPositionsAndHead) {
  Config c = testing::TinyConfig({{"n_layer", 1},
                                  {"norm", "rmsnorm"},
                                  {"pos", "rope"},
                                  {"tie_embeddings", true},
                                  {"activation", "swiglu"}});
  auto layout = ParamLayout(c);
  EXPECT_EQ(Names(layout),
            (std::vector<std::string>{"wte", "h0.ln1.g", "h0.attn.wqkv", "h0.attn.wo", "h0.ln2.g",
                                      "h0.mlp.wfc", "h0.mlp.wproj", "lnf.g"}));
  EXPECT_EQ(layout[5].shape, (std::vector<int>{16, 64}));  // [C, 2H]
}

TEST(ModelTest, UnknownTensorNameIsAnError) {
  Model model(testing::TinyConfig({{"pos", "rope"}}), 1, 8, false);
  EXPECT_THROW(model.tensor("wpe"), Error);
}

TEST(ModelTest, InitIsDeterministicInTheSeed) {
  Config c = testing::TinyConfig();
  Model a(c, 1, 8, false), b(c, 1, 8, false), d(c, 1, 8, false);
  a.InitParams(1);
  b.InitParams(1);
  d.InitParams(2);
  EXPECT_TRUE(std::equal(a.params(), a.params() + a.num_params(), b.params()));
  EXPECT_FALSE(std::equal(a.params(), a.params() + a.num_params(), d.params()));
  EXPECT_EQ(a.param("h0.ln1.g")[0], 1.0f);
  EXPECT_EQ(a.param("h0.ln1.b")[0], 0.0f);
}

// ratchet-eval builds its model from the checkpoint's config with training
// false: a bf16-trained checkpoint is still scored in FP32, bit for bit.
TEST(ModelTest, EvaluationIsFp32WhateverTheConfigsPrecision) {
  Config c32 = testing::TinyConfig();
  Config c16 = c32;
  c16.precision = Precision::kBf16;
  Model fp32(c32, 2, 8, false), bf16(c16, 2, 8, false);
  fp32.InitParams(5);
  bf16.InitParams(5);
  std::vector<uint8_t> in(16), tg(16);
  std::mt19937 rng(2);
  for (auto& x : in) x = rng() % 256;
  for (auto& x : tg) x = rng() % 256;
  std::vector<float> nll32(16), nll16(16);
  fp32.ForwardNll(in.data(), tg.data(), 2, 8, nll32.data());
  bf16.ForwardNll(in.data(), tg.data(), 2, 8, nll16.data());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(nll16[i], nll32[i]) << i;
}

TEST(ModelTest, NllIsCausalAndWorksForSmallerBatchAndTime) {
  Config c = testing::TinyConfig({{"pos", "rope"}, {"qk_norm", true}});
  Model full(c, 2, 8, true), part(c, 2, 8, false);
  full.InitParams(5);
  std::copy(full.params(), full.params() + full.num_params(), part.params());
  std::vector<uint8_t> in(16), tg(16);
  std::mt19937 rng(1);
  for (auto& x : in) x = rng() % 256;
  for (auto& x : tg) x = rng() % 256;
  std::vector<float> nll(16), nll_part(5);
  full.ForwardNll(in.data(), tg.data(), 2, 8, nll.data());
  const double mean = std::accumulate(nll.begin(), nll.end(), 0.0) / 16;
  EXPECT_NEAR(full.ForwardLoss(in.data(), tg.data(), 2, 8), mean, 1e-5);
  // Batch 1, first 5 positions of row 1: the same numbers (causal attention).
  part.ForwardNll(in.data() + 8, tg.data() + 8, 1, 5, nll_part.data());
  for (int t = 0; t < 5; ++t) EXPECT_NEAR(nll_part[t], nll[8 + t], 1e-5) << t;
  for (float x : nll) EXPECT_GT(x, 0.0f);
}

TEST(ModelTest, OverfitsATinyFixedBatchToNearZeroLoss) {
  Config c = testing::TinyConfig({{"lr", 1e-2}, {"weight_decay", 0.0}, {"n_embd", 32}});
  Model model(c, 2, 8, true);
  model.InitParams(11);
  Optimizer opt(c, model.tensors());
  const std::string text = "to be or not to be, that is it";
  std::vector<uint8_t> in(16), tg(16);
  for (int i = 0; i < 16; ++i) {
    in[i] = text[i];
    tg[i] = text[i + 1];
  }
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    model.ZeroGrads();
    last = model.ForwardBackward(in.data(), tg.data(), 2, 8, 1.0f);
    if (step == 0) first = last;
    opt.Step(model.params(), model.grads(), 1.0);
  }
  EXPECT_GT(first, 5.0f);  // ~ln(256) at init
  EXPECT_LT(last, 0.05f);
}

TEST(ModelTest, FlopsPerTokenCountsMatmulsAndAttention) {
  Config c = testing::TinyConfig();  // L 2, C 16, H 32, T 8
  const double matmul = 2 * (16 * 48 + 16 * 16 + 16 * 32 + 32 * 16) + 16 * 256;
  EXPECT_DOUBLE_EQ(TrainFlopsPerToken(c), 6 * matmul + 6 * 2 * 8 * 16);
}

}  // namespace
}  // namespace ratchet::train

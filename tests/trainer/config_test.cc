#include "trainer/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"

namespace ratchet::train {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string ErrorOf(const json& j) {
  try {
    ParseConfig(j, "train.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigTest, EmptyObjectGivesTheDocumentedDefaults) {
  Config c = ParseConfig(json::object(), "train.json");
  EXPECT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.n_embd, 128);
  EXPECT_EQ(c.activation, Activation::kGelu);
  EXPECT_EQ(c.norm, NormKind::kLayerNorm);
  EXPECT_EQ(c.pos, PosKind::kLearned);
  EXPECT_EQ(c.optimizer, OptimizerKind::kAdamW);
  EXPECT_EQ(c.schedule, ScheduleKind::kCosine);
  EXPECT_EQ(c.precision, Precision::kFp32);
  EXPECT_EQ(c.mlp_hidden(), 512);
  EXPECT_EQ(c.tokens_per_step(), 16 * 128);
}

TEST(ConfigTest, EveryKeyIsReadAndRoundTripsThroughToJson) {
  json j = {{"n_layer", 3},        {"n_embd", 48},        {"n_head", 6},
            {"mlp_ratio", 2.5},    {"activation", "swiglu"}, {"norm", "rmsnorm"},
            {"pos", "rope"},       {"rope_base", 500.0},  {"tie_embeddings", true},
            {"qk_norm", true},     {"seq_len", 64},       {"batch_size", 3},
            {"grad_accum", 2},     {"optimizer", "muon"}, {"lr", 0.003},
            {"embed_lr", 0.01},    {"matrix_lr", 0.05},   {"weight_decay", 0.0},
            {"beta1", 0.8},        {"beta2", 0.99},       {"grad_clip", 0.5},
            {"init_std", 0.01},    {"schedule", "wsd"},   {"warmup_frac", 0.1},
            {"cooldown_frac", 0.3}, {"logit_softcap", 15.0}, {"muon_momentum", 0.9},
            {"muon_ns_steps", 4},  {"min_lr_frac", 0.1},  {"precision", "bf16"}};
  Config c = ParseConfig(j, "train.json");
  EXPECT_EQ(c.n_head, 6);
  EXPECT_EQ(c.mlp_hidden(), 120);
  EXPECT_EQ(c.activation, Activation::kSwiglu);
  EXPECT_EQ(c.norm, NormKind::kRmsNorm);
  EXPECT_EQ(c.pos, PosKind::kRope);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.optimizer, OptimizerKind::kMuon);
  EXPECT_EQ(c.schedule, ScheduleKind::kWsd);
  EXPECT_DOUBLE_EQ(c.matrix_lr, 0.05);
  EXPECT_DOUBLE_EQ(c.logit_softcap, 15.0);
  EXPECT_EQ(c.precision, Precision::kBf16);  // parsed on any CPU; the trainer checks it
  EXPECT_EQ(ToJson(c), j);
  EXPECT_EQ(ToJson(ParseConfig(ToJson(c), "again")), j);
}

TEST(ConfigTest, AbsentGroupRatesFollowLrOrMuonDefault) {
  Config adam = ParseConfig(json{{"lr", 0.004}}, "train.json");
  EXPECT_DOUBLE_EQ(adam.embed_lr, 0.004);
  EXPECT_DOUBLE_EQ(adam.matrix_lr, 0.004);
  Config muon = ParseConfig(json{{"lr", 0.004}, {"optimizer", "muon"}}, "train.json");
  EXPECT_DOUBLE_EQ(muon.embed_lr, 0.004);
  EXPECT_DOUBLE_EQ(muon.matrix_lr, 0.02);
  EXPECT_DOUBLE_EQ(ToJson(muon)["matrix_lr"].get<double>(), 0.02);
}

TEST(ConfigTest, IntegralFloatsAreAcceptedForIntegerKeys) {
  EXPECT_EQ(ParseConfig(json{{"n_layer", 6.0}}, "train.json").n_layer, 6);
}

TEST(ConfigTest, UnknownKeyIsNamed) {
  EXPECT_EQ(ErrorOf(json{{"n_layers", 4}}), "train.json: n_layers: unknown key");
}

TEST(ConfigTest, WrongTypesAreNamed) {
  EXPECT_THAT(ErrorOf(json{{"n_layer", "4"}}), HasSubstr("train.json: n_layer: expected an integer"));
  EXPECT_THAT(ErrorOf(json{{"n_layer", 2.5}}), HasSubstr("train.json: n_layer: expected an integer"));
  EXPECT_THAT(ErrorOf(json{{"lr", "fast"}}), HasSubstr("train.json: lr: expected a number"));
  EXPECT_THAT(ErrorOf(json{{"qk_norm", 1}}), HasSubstr("train.json: qk_norm: expected true or false"));
  EXPECT_THAT(ErrorOf(json{{"activation", "tanh"}}),
              HasSubstr("train.json: activation: expected one of gelu|relu2|swiglu"));
  EXPECT_THAT(ErrorOf(json{{"precision", "fp16"}}),
              HasSubstr("train.json: precision: expected one of fp32|bf16"));
  EXPECT_THAT(ErrorOf(json::array()), HasSubstr("train.json: expected a JSON object"));
}

TEST(ConfigTest, ImpossibleShapesAreNamed) {
  EXPECT_EQ(ErrorOf(json{{"n_embd", 100}, {"n_head", 3}}),
            "train.json: n_head: n_embd 100 is not divisible by n_head 3");
  EXPECT_EQ(ErrorOf(json{{"n_embd", 12}, {"n_head", 4}, {"pos", "rope"}}),
            "train.json: pos: rope needs an even head size, n_embd/n_head = 3");
  EXPECT_THAT(ErrorOf(json{{"n_embd", 4}, {"n_head", 1}, {"mlp_ratio", 0.1}}),
              HasSubstr("train.json: mlp_ratio: "));
  EXPECT_THAT(ErrorOf(json{{"schedule", "wsd"}, {"warmup_frac", 0.6}, {"cooldown_frac", 0.6}}),
              HasSubstr("train.json: cooldown_frac: "));
}

TEST(ConfigTest, OutOfRangeValuesAreNamed) {
  EXPECT_THAT(ErrorOf(json{{"n_layer", 0}}), HasSubstr("train.json: n_layer: 0 is out of range"));
  EXPECT_THAT(ErrorOf(json{{"lr", 0}}), HasSubstr("train.json: lr: 0 is out of range"));
  EXPECT_THAT(ErrorOf(json{{"lr", -1e-3}}), HasSubstr("train.json: lr: "));
  EXPECT_THAT(ErrorOf(json{{"beta2", 1.0}}), HasSubstr("train.json: beta2: "));
  EXPECT_THAT(ErrorOf(json{{"warmup_frac", 1.5}}), HasSubstr("train.json: warmup_frac: "));
  EXPECT_THAT(ErrorOf(json{{"batch_size", -2}}), HasSubstr("train.json: batch_size: "));
  EXPECT_THAT(ErrorOf(json{{"logit_softcap", -1}}), HasSubstr("train.json: logit_softcap: "));
}

}  // namespace
}  // namespace ratchet::train

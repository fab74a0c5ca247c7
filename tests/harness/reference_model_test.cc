#include "harness/reference_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "base/error.h"

namespace ratchet {
namespace {

// C = 4, one head, one layer, H = 4, seq_len 4: small enough to compute by hand.
nlohmann::json TinyConfig() {
  return {{"n_layer", 1},        {"n_embd", 4},          {"n_head", 1},
          {"seq_len", 4},        {"mlp_ratio", 1.0},     {"activation", "gelu"},
          {"norm", "layernorm"}, {"pos", "learned"},     {"tie_embeddings", false},
          {"qk_norm", false},    {"logit_softcap", 0.0}, {"rope_base", 10000.0}};
}

RefTensor Zeros(std::vector<std::int64_t> shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return {shape, std::vector<float>(n, 0.0f)};
}

RefTensor Ones(std::vector<std::int64_t> shape) {
  RefTensor t = Zeros(shape);
  std::fill(t.data.begin(), t.data.end(), 1.0f);
  return t;
}

// Every block weight zero, norm gains 1 and biases 0, lm_head zero.
RefTensors TinyTensors(const RefConfig& c) {
  const std::int64_t C = c.n_embd, H = c.hidden();
  RefTensors t;
  t["wte"] = Zeros({256, C});
  if (c.pos == "learned") t["wpe"] = Zeros({c.seq_len, C});
  auto norm = [&](const std::string& p) {
    t[p + ".g"] = Ones({C});
    if (c.norm == "layernorm") t[p + ".b"] = Zeros({C});
  };
  norm("h0.ln1");
  t["h0.attn.wqkv"] = Zeros({C, 3 * C});
  t["h0.attn.wo"] = Zeros({C, C});
  norm("h0.ln2");
  t["h0.mlp.wfc"] = Zeros({C, c.activation == "swiglu" ? 2 * H : H});
  t["h0.mlp.wproj"] = Zeros({H, C});
  norm("lnf");
  if (!c.tie_embeddings) t["lm_head"] = Zeros({C, 256});
  return t;
}

void SetRow(RefTensors& t, const std::string& name, int row, std::vector<float> values) {
  const std::int64_t cols = t[name].shape.back();
  for (size_t i = 0; i < values.size(); ++i) t[name].data[row * cols + i] = values[i];
}

// LayerNorm with unit gain and zero bias, as MODEL.md defines it.
std::vector<double> HandLayerNorm(std::vector<double> x) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  for (double v : x) var += (v - mean) * (v - mean);
  var /= x.size();
  for (double& v : x) v = (v - mean) / std::sqrt(var + 1e-5);
  return x;
}

TEST(ReferenceModelTest, ZeroBlocksGiveNormalizedEmbeddingTimesHead) {
  const RefConfig config = ParseRefConfig(TinyConfig());
  RefTensors t = TinyTensors(config);
  SetRow(t, "wte", 'a', {1, 2, 3, 4});
  SetRow(t, "wpe", 0, {0, 0, 0, 1});
  // lm_head column 7 is (1, 0, 0, 0); column 9 is (0, 0, 0, 2).
  t["lm_head"].data[0 * 256 + 7] = 1;
  t["lm_head"].data[3 * 256 + 9] = 2;
  t["lnf.b"].data = {0.5f, 0, 0, -0.25f};  // lnf output = normalized x + bias
  const ReferenceModel model(config, t);
  const std::vector<std::uint8_t> tokens = {'a'};
  const std::vector<double> logits = model.Logits(tokens);
  ASSERT_EQ(logits.size(), 256u);
  // x = (1, 2, 3, 5): mean 2.75, var 2.1875.
  const double inv = 1 / std::sqrt(2.1875 + 1e-5);
  EXPECT_NEAR(logits[7], (1 - 2.75) * inv + 0.5, 1e-12);
  EXPECT_NEAR(logits[9], 2 * ((5 - 2.75) * inv - 0.25), 1e-12);
  EXPECT_EQ(logits[8], 0.0);
  // Cross-entropy of target 9: logsumexp over 254 zeros and the two logits.
  const double lse = std::log(254 + std::exp(logits[7]) + std::exp(logits[9]));
  const std::vector<std::uint8_t> targets = {9};
  EXPECT_NEAR(model.SumNll(tokens, targets), lse - logits[9], 1e-12);
}

TEST(ReferenceModelTest, UniformAttentionAveragesTheCausalPrefix) {
  // q = k = 0 makes every score equal, v = x and wo = I, so the block adds the
  // mean of x[0..t] to x[t]; the MLP stays zero.
  const RefConfig config = ParseRefConfig(TinyConfig());
  RefTensors t = TinyTensors(config);
  SetRow(t, "wte", 'a', {1, 0, 0, 0});
  SetRow(t, "wte", 'b', {0, 3, 0, 1});
  SetRow(t, "wte", 'c', {0, 0, 2, 0});
  for (int c = 0; c < 4; ++c) t["h0.attn.wqkv"].data[c * 12 + 8 + c] = 1;  // v = ln1(x)
  for (int c = 0; c < 4; ++c) t["h0.attn.wo"].data[c * 4 + c] = 1;
  for (int c = 0; c < 4; ++c) t["lm_head"].data[c * 256 + c] = 1;  // logits[0..3] = lnf(x)
  const ReferenceModel model(config, t);
  const std::vector<std::uint8_t> tokens = {'a', 'b', 'c'};
  const std::vector<double> logits = model.Logits(tokens);
  const std::vector<std::vector<double>> x = {{1, 0, 0, 0}, {0, 3, 0, 1}, {0, 0, 2, 0}};
  for (int pos = 0; pos < 3; ++pos) {
    std::vector<double> v_mean(4, 0.0);
    for (int s = 0; s <= pos; ++s) {
      const std::vector<double> v = HandLayerNorm(x[s]);
      for (int c = 0; c < 4; ++c) v_mean[c] += v[c] / (pos + 1);
    }
    std::vector<double> out(4);
    for (int c = 0; c < 4; ++c) out[c] = x[pos][c] + v_mean[c];
    const std::vector<double> expected = HandLayerNorm(out);
    for (int c = 0; c < 4; ++c) {
      EXPECT_NEAR(logits[pos * 256 + c], expected[c], 1e-9) << "pos " << pos << " c " << c;
    }
  }
}

TEST(ReferenceModelTest, Relu2MlpWithRmsNormTiedHeadAndSoftcap) {
  nlohmann::json j = TinyConfig();
  j["activation"] = "relu2";
  j["norm"] = "rmsnorm";
  j["pos"] = "rope";  // one token: rotation angle 0, no effect
  j["tie_embeddings"] = true;
  j["logit_softcap"] = 2.0;
  const RefConfig config = ParseRefConfig(j);
  RefTensors t = TinyTensors(config);
  EXPECT_EQ(t.count("wpe"), 0u);
  SetRow(t, "wte", 'z', {2, -1, 0, 1});
  for (int c = 0; c < 4; ++c) t["h0.mlp.wfc"].data[c * 4 + c] = 1;
  for (int c = 0; c < 4; ++c) t["h0.mlp.wproj"].data[c * 4 + c] = 1;
  const ReferenceModel model(config, t);
  const std::vector<std::uint8_t> tokens = {'z'};
  const std::vector<double> logits = model.Logits(tokens);
  // rms(x) over (2, -1, 0, 1): mean square 1.5.
  auto rms = [](std::vector<double> v) {
    double ms = 0;
    for (double a : v) ms += a * a / v.size();
    for (double& a : v) a /= std::sqrt(ms + 1e-5);
    return v;
  };
  const std::vector<double> h = rms({2, -1, 0, 1});
  std::vector<double> x = {2, -1, 0, 1};
  for (int c = 0; c < 4; ++c) x[c] += std::pow(std::max(0.0, h[c]), 2);
  const std::vector<double> f = rms(x);
  // Tied head: logit of 'z' is f · wte['z']; every other byte's row is zero.
  const double raw = f[0] * 2 - f[1] + f[3];
  EXPECT_NEAR(logits['z'], 2.0 * std::tanh(raw / 2.0), 1e-12);
  EXPECT_EQ(logits['y'], 0.0);
}

TEST(ReferenceModelTest, GeluAndSwigluFollowTheirFormulas) {
  for (const char* activation : {"gelu", "swiglu"}) {
    nlohmann::json j = TinyConfig();
    j["activation"] = activation;
    const RefConfig config = ParseRefConfig(j);
    RefTensors t = TinyTensors(config);
    SetRow(t, "wte", 'q', {1, -1, 1, -1});  // layernorm maps it to about (1, -1, 1, -1)
    // Hidden unit 0 reads channel 0 (and for swiglu, the up half reads channel 0 too);
    // wproj writes unit 0 into channel 1, and lm_head reads channel 1 as logit 5.
    t["h0.mlp.wfc"].data[0] = 1;
    if (std::string(activation) == "swiglu") t["h0.mlp.wfc"].data[4] = 0.5;
    t["h0.mlp.wproj"].data[1] = 1;
    t["lm_head"].data[1 * 256 + 5] = 1;
    const ReferenceModel model(config, t);
    const std::vector<std::uint8_t> tokens = {'q'};
    const std::vector<double> logits = model.Logits(tokens);
    const double u = 1 / std::sqrt(1 + 1e-5);
    const double m =
        std::string(activation) == "gelu"
            ? 0.5 * u *
                  (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (u + 0.044715 * u * u * u)))
            : u / (1 + std::exp(-u)) * (0.5 * u);
    const std::vector<double> expected = HandLayerNorm({1, -1 + m, 1, -1});
    EXPECT_NEAR(logits[5], expected[1], 1e-12) << activation;
  }
}

TEST(ReferenceModelTest, LogitsAtAPositionIgnoreLaterTokens) {
  nlohmann::json j = TinyConfig();
  j["n_embd"] = 8;
  j["n_head"] = 2;
  j["pos"] = "rope";
  j["qk_norm"] = true;
  const RefConfig config = ParseRefConfig(j);
  RefTensors t = TinyTensors(config);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (auto& [name, tensor] : t) {
    for (float& v : tensor.data) v += normal(rng);
  }
  const ReferenceModel model(config, t);
  const std::vector<std::uint8_t> long_seq = {'a', 'b', 'c', 'd'};
  const std::vector<std::uint8_t> short_seq = {'a', 'b', 'c'};
  const std::vector<std::uint8_t> other_end = {'a', 'b', 'c', 'x'};
  const std::vector<double> full = model.Logits(long_seq);
  const std::vector<double> prefix = model.Logits(short_seq);
  const std::vector<double> changed = model.Logits(other_end);
  for (size_t i = 0; i < prefix.size(); ++i) {
    EXPECT_NEAR(full[i], prefix[i], 1e-12) << i;
    EXPECT_NEAR(changed[i], prefix[i], 1e-12) << i;
  }
  double diff = 0;
  for (size_t i = prefix.size(); i < full.size(); ++i) diff += std::abs(full[i] - changed[i]);
  EXPECT_GT(diff, 1e-3);  // the last position does see its own token
}

TEST(ReferenceModelTest, MissingOrMisshapenTensorIsNamed) {
  const RefConfig config = ParseRefConfig(TinyConfig());
  RefTensors t = TinyTensors(config);
  t.erase("h0.attn.wo");
  try {
    ReferenceModel model(config, t);
    FAIL() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("h0.attn.wo"), std::string::npos);
  }
  t = TinyTensors(config);
  t["lm_head"] = Zeros({256, 4});
  EXPECT_THROW(ReferenceModel(config, t), Error);
}

TEST(ReferenceModelTest, UnknownActivationIsRejected) {
  nlohmann::json j = TinyConfig();
  j["activation"] = "tanh";
  EXPECT_THROW(ParseRefConfig(j), Error);
}

}  // namespace
}  // namespace ratchet

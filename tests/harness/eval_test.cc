#include "harness/eval.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "harness/manifest.h"
#include "harness/prepare.h"
#include "harness/reference_model.h"
#include "base/error.h"
#include "base/fs.h"
#include "trainer/checkpoint.h"
#include "trainer/config.h"
#include "trainer/model.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

// A small model: 2 layers, C = 16, 2 heads, seq_len 16.
nlohmann::json SmallConfig() {
  return {{"n_layer", 2}, {"n_embd", 16}, {"n_head", 2}, {"seq_len", 16}, {"mlp_ratio", 2.0}};
}

// Every parameter random (gains near 1, biases and matrices spread out) so
// each tensor moves the logits visibly.
void RandomizeParams(train::Model& model, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const train::TensorInfo& t : model.tensors()) {
    float* p = model.params() + t.offset;
    const bool gain = t.name.ends_with(".g");
    const double scale = gain || t.name.ends_with(".b") ? 0.2 : 0.3;
    for (size_t i = 0; i < t.numel; ++i) p[i] = (gain ? 1.0f : 0.0f) + scale * normal(rng);
  }
}

std::vector<std::uint8_t> RandomText(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> text(n);
  for (auto& c : text) c = static_cast<std::uint8_t>(rng() % 8 == 0 ? ' ' : 'a' + rng() % 26);
  return text;
}

RefTensors TensorsOf(const train::Model& model) {
  RefTensors tensors;
  for (const train::TensorInfo& t : model.tensors()) {
    tensors[t.name].shape.assign(t.shape.begin(), t.shape.end());
    tensors[t.name].data.assign(model.params() + t.offset, model.params() + t.offset + t.numel);
  }
  return tensors;
}

struct Variant {
  const char* name;
  nlohmann::json changes;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class ReferenceVsFastTest : public ::testing::TestWithParam<Variant> {};

TEST_P(ReferenceVsFastTest, ReferenceAndFastForwardAgreeOnEveryByte) {
  nlohmann::json j = SmallConfig();
  j.update(GetParam().changes);
  const train::Config config = train::ParseConfig(j, "variant");
  const int B = 2, T = config.seq_len;
  train::Model model(config, B, T, /*training=*/false);
  RandomizeParams(model, 11);
  const std::vector<std::uint8_t> text = RandomText(B * T + 1, 5);
  std::vector<float> nll(B * T);
  model.ForwardNll(text.data(), text.data() + 1, B, T, nll.data());

  const ReferenceModel reference(ParseRefConfig(train::ToJson(config)), TensorsOf(model));
  double spread = 0;
  for (int b = 0; b < B; ++b) {
    const std::vector<double> expected =
        reference.Nll(std::span(text.data() + b * T, T), std::span(text.data() + b * T + 1, T));
    for (int t = 0; t < T; ++t) {
      EXPECT_NEAR(nll[b * T + t], expected[t], 1e-4 * std::max(1.0, expected[t]))
          << "b " << b << " t " << t;
      spread += std::abs(expected[t] - std::log(256.0));
    }
  }
  EXPECT_GT(spread / (B * T), 0.05) << "random weights should move the loss away from uniform";
}

INSTANTIATE_TEST_SUITE_P(EveryConfigVariant, ReferenceVsFastTest,
                         ::testing::Values(Variant{"base", nlohmann::json::object()},
                                           Variant{"relu2", {{"activation", "relu2"}}},
                                           Variant{"swiglu", {{"activation", "swiglu"}}},
                                           Variant{"rmsnorm", {{"norm", "rmsnorm"}}},
                                           Variant{"rope", {{"pos", "rope"}, {"rope_base", 100.0}}},
                                           Variant{"tied", {{"tie_embeddings", true}}},
                                           Variant{"qk_norm", {{"qk_norm", true}}},
                                           Variant{"softcap", {{"logit_softcap", 3.0}}},
                                           Variant{"all_at_once",
                                                   {{"activation", "swiglu"},
                                                    {"norm", "rmsnorm"},
                                                    {"pos", "rope"},
                                                    {"tie_embeddings", true},
                                                    {"qk_norm", true},
                                                    {"logit_softcap", 5.0},
                                                    {"n_head", 4},
                                                    {"mlp_ratio", 1.5}}}),
                         [](const auto& info) { return std::string(info.param.name); });

class EvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "eval_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // Data: 40 KB of text split in chunks of 512 bytes.
    const std::vector<std::uint8_t> text = RandomText(40000, 9);
    WriteFileAtomic(dir_ / "corpus.txt", std::string(text.begin(), text.end()));
    PrepareOptions prepare;
    prepare.out_dir = dir_ / "data";
    prepare.inputs = {dir_ / "corpus.txt"};
    prepare.chunk_bytes = 512;
    Prepare(prepare);
    checkpoint_ = WriteCheckpoint(SmallConfig(), "model.ckpt", true);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path WriteCheckpoint(const nlohmann::json& j, const std::string& name, bool random) {
    const train::Config config = train::ParseConfig(j, "test");
    train::Model model(config, 1, config.seq_len, /*training=*/false);
    if (random) RandomizeParams(model, 3);
    const fs::path path = dir_ / name;
    train::SaveCheckpoint(path.string(), model, {{"step", 0}});
    return path;
  }

  EvalOptions Options() const {
    EvalOptions options;
    options.checkpoint = checkpoint_;
    options.data_dir = dir_ / "data";
    options.max_bytes = 1000;  // 999 predicted bytes: 62 full windows of 16 and one of 7
    return options;
  }

  fs::path dir_, checkpoint_;
};

TEST(EvalWindowsTest, PredictEveryByteOfTheSliceExactlyOnce) {
  for (std::size_t slice : {2u, 16u, 17u, 18u, 1000u}) {
    std::vector<int> seen(slice, 0);
    for (const EvalWindow& w : EvalWindows(slice, 16)) {
      EXPECT_LE(w.length, 16);
      EXPECT_LE(w.start + w.length + 1, slice);  // targets stay inside the slice
      for (int t = 0; t < w.length; ++t) ++seen[w.start + t + 1];
    }
    EXPECT_EQ(seen[0], 0) << slice;  // the first byte has no context
    for (std::size_t i = 1; i < slice; ++i) EXPECT_EQ(seen[i], 1) << slice << " byte " << i;
  }
  EXPECT_TRUE(EvalWindows(1, 16).empty());
}

TEST(CompareNllTest, FlagsADifferenceBeyondTheToleranceAndNaN) {
  const std::vector<double> reference = {1.0, 2.0, 3.0};
  EXPECT_TRUE(CompareNll(std::vector<double>{1.0, 2.0005, 3.0}, reference, 1e-3).ok);
  const CrossCheck bad = CompareNll(std::vector<double>{1.0, 2.01, 3.0}, reference, 1e-3);
  EXPECT_FALSE(bad.ok);
  EXPECT_NEAR(bad.max_abs_diff, 0.01, 1e-12);
  EXPECT_GT(bad.fast_bpb, bad.reference_bpb);
  EXPECT_FALSE(CompareNll(std::vector<double>{1.0, NAN, 3.0}, reference, 1e-3).ok);
}

TEST_F(EvalTest, AllZeroModelScoresExactlyEightBitsPerByte) {
  // Zero weights give zero logits: every byte costs ln 256 nats = 8 bits.
  EvalOptions options = Options();
  options.checkpoint = WriteCheckpoint(SmallConfig(), "zero.ckpt", false);
  const EvalResult r = Evaluate(options);
  EXPECT_NEAR(r.val_bpb, 8.0, 1e-5);
  EXPECT_EQ(r.bytes, 999u);
}

TEST_F(EvalTest, ResultIsInvariantToBatchSizeAndThreads) {
  EvalOptions options = Options();
  options.batch = 1;
  options.threads = 1;
  const double base = Evaluate(options).val_bpb;
  EXPECT_GT(std::abs(base - 8.0), 0.05);
  for (int batch : {1, 3, 8, 64}) {
    for (int threads : {1, 2}) {
      options.batch = batch;
      options.threads = threads;
      EXPECT_NEAR(Evaluate(options).val_bpb, base, 1e-5)
          << "batch " << batch << " threads " << threads;
    }
  }
}

TEST_F(EvalTest, ValBpbIsTheMeanOfTheReferenceLossInBits) {
  EvalOptions options = Options();
  options.max_bytes = 40;  // two full windows of 16 and one of 7
  const double fast = Evaluate(options).val_bpb;
  const train::LoadedCheckpoint ckpt = train::LoadCheckpoint(checkpoint_.string());
  train::Model model(ckpt.config, 1, ckpt.config.seq_len, false);
  train::CopyParams(ckpt, model);
  const ReferenceModel reference(ParseRefConfig(train::ToJson(ckpt.config)), TensorsOf(model));
  const std::string val = ReadFile(dir_ / "data" / kValFile);
  const auto* v = reinterpret_cast<const std::uint8_t*>(val.data());
  double nats = 0;
  for (const auto& [start, length] : std::vector<std::pair<int, int>>{{0, 16}, {16, 16}, {32, 7}}) {
    nats += reference.SumNll(std::span(v + start, length), std::span(v + start + 1, length));
  }
  EXPECT_NEAR(fast, nats / std::log(2.0) / 39, 1e-5);
}

TEST_F(EvalTest, CrossCheckPassesOnARealCheckpoint) {
  EvalOptions options = Options();
  options.cross_check = true;
  const EvalResult r = Evaluate(options);
  ASSERT_TRUE(r.cross_checked);
  EXPECT_TRUE(r.cross_check.ok);
  EXPECT_EQ(r.cross_check.bytes, 32u);
  EXPECT_LT(r.cross_check.max_abs_diff, 1e-4);
}

TEST_F(EvalTest, CrossCheckFailsWithBothNumbersWhenTheReferenceIsPerturbed) {
  EvalOptions options = Options();
  options.cross_check = true;
  options.perturb_reference = [](RefTensors& t) { t["h1.mlp.wproj"].data[5] += 0.5f; };
  try {
    Evaluate(options);
    FAIL() << "perturbed reference passed the cross-check";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cross-check failed: fast val_bpb "), std::string::npos) << message;
    EXPECT_NE(message.find(" vs reference "), std::string::npos) << message;
  }
}

TEST_F(EvalTest, ValFileNotMatchingTheManifestIsRejectedByName) {
  std::string val = ReadFile(dir_ / "data" / kValFile);
  val[10] ^= 1;
  WriteFileAtomic(dir_ / "data" / kValFile, val);
  try {
    Evaluate(Options());
    FAIL() << "tampered val.bin accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("val.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("does not match manifest"), std::string::npos);
  }
}

TEST_F(EvalTest, ManifestWithAnotherSumIsRejected) {
  nlohmann::json manifest = ReadManifest(dir_ / "data");
  manifest["files"]["val.bin"]["sha256"] = Sha256Hex("something else");
  WriteFileAtomic(dir_ / "data" / kManifestFile, manifest.dump());
  EXPECT_THROW(Evaluate(Options()), Error);
  fs::remove(dir_ / "data" / kManifestFile);
  EXPECT_THROW(Evaluate(Options()), Error);
}

TEST_F(EvalTest, CorruptOrForeignCheckpointIsRejected) {
  std::string bytes = ReadFile(checkpoint_);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFileAtomic(dir_ / "corrupt.ckpt", bytes);
  EvalOptions options = Options();
  options.checkpoint = dir_ / "corrupt.ckpt";
  try {
    Evaluate(options);
    FAIL() << "corrupt checkpoint accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt.ckpt"), std::string::npos) << e.what();
  }
  WriteFileAtomic(dir_ / "foreign.ckpt", "GGUF and then something else entirely");
  options.checkpoint = dir_ / "foreign.ckpt";
  EXPECT_THROW(Evaluate(options), Error);
}

TEST_F(EvalTest, ProgramPrintsOneJsonLineAndFailsOnABadManifest) {
  const std::string eval = std::string(RATCHET_BIN_DIR) + "/ratchet-eval --checkpoint " +
                           checkpoint_.string() + " --data " + (dir_ / "data").string() +
                           " --max-bytes 500 --cross-check";
  ASSERT_EQ(std::system((eval + " >" + (dir_ / "out.txt").string()).c_str()), 0);
  const nlohmann::json line = nlohmann::json::parse(ReadFile(dir_ / "out.txt"));
  for (const char* key : {"val_bpb", "bytes", "seconds", "bytes_per_s"}) {
    EXPECT_TRUE(line.contains(key)) << key;
  }
  EXPECT_EQ(line["bytes"], 499);
  WriteFileAtomic(dir_ / "data" / kValFile, "tampered");
  EXPECT_NE(std::system((eval + " >/dev/null 2>&1").c_str()), 0);
}

TEST(TinygptTemplateTest, DefaultRecipeAndEverySearchSpaceShapeAreValidConfigs) {
  const fs::path source = RATCHET_SOURCE_DIR;
  for (const char* spec_name : {"tinygpt-time.json", "tinygpt-tokens.json", "quickstart.json"}) {
    const nlohmann::json spec = nlohmann::json::parse(ReadFile(source / "specs" / spec_name));
    // Each spec's own starting recipe (quickstart's has its deliberately low lr).
    const fs::path recipe_file =
        source / "specs" / spec["template"].get<std::string>() / "train.json";
    const nlohmann::json recipe = nlohmann::json::parse(ReadFile(recipe_file));
    EXPECT_NO_THROW(train::ParseConfig(recipe, recipe_file.string()));
    const nlohmann::json& space = spec["search_space"];
    for (const auto& [key, param] : space.items()) {
      EXPECT_TRUE(recipe.contains(key)) << spec_name << ": " << key << " not in train.json";
    }
    if (!space.contains("n_embd")) continue;  // the shape is not searched
    // The shape choices combine freely: every pair must be a legal model.
    for (const auto& n_embd : space["n_embd"]["values"]) {
      for (const auto& n_head : space["n_head"]["values"]) {
        for (const auto& pos : space["pos"]["values"]) {
          for (const char* bound : {"min", "max"}) {
            nlohmann::json c = recipe;
            c["n_embd"] = n_embd;
            c["n_head"] = n_head;
            c["pos"] = pos;
            c["mlp_ratio"] = space["mlp_ratio"][bound];
            c["warmup_frac"] = space["warmup_frac"]["max"];
            c["cooldown_frac"] = space["cooldown_frac"]["max"];
            c["schedule"] = "wsd";
            EXPECT_NO_THROW(train::ParseConfig(c, "combo")) << c.dump();
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ratchet

// The immutable side of experiments/nanogpt-torch against the project's own:
// prepare.py writes ratchet-prepare's files byte for byte; evaluate.py's
// val_bpb equals ratchet-eval's on the same weights (a ratchet-train
// checkpoint read directly, and the same weights inside train.py's GPT as
// TorchScript); hostile and damaged checkpoints get one-line refusals; and
// train.py follows its seed. Needs Debian's python3-torch (scripts/install-deps).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

const char* kPython = "/usr/bin/python3";
constexpr const char* kSlice = "16384";  // held-out bytes scored: a few seconds per model

fs::path Experiment() { return SourceDir() / "experiments" / "nanogpt-torch"; }
fs::path Tools() { return SourceDir() / "tests" / "harness" / "nanogpt_torch"; }

// The last stdout line as JSON, or a failure naming the command's stderr.
json LastJsonLine(const CommandOutput& output) {
  std::string text = output.out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::string line = text.substr(text.rfind('\n') + 1);
  json parsed = json::parse(line, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "stdout: " << output.out << "\nstderr: " << output.err;
  return parsed;
}

class NanogptTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new TempDir;
    data_ = temp_->path() / "data";
    CommandOutput prepared =
        RunProgram({kPython, "-I", (Experiment() / "prepare.py").string(), "--out", data_.string()},
                   temp_->path());
    ASSERT_TRUE(prepared.result.Succeeded()) << prepared.err;
  }
  static void TearDownTestSuite() { delete temp_; }

  fs::path Path(const std::string& name) const { return temp_->path() / name; }

  CommandOutput Evaluate(const fs::path& checkpoint) const {
    return RunProgram(
        {kPython, "-I", (Experiment() / "evaluate.py").string(), "--checkpoint",
         checkpoint.string(), "--data", data_.string(), "--threads", "2", "--max-bytes", kSlice},
        temp_->path());
  }
  double TorchBpb(const fs::path& checkpoint) const {
    CommandOutput out = Evaluate(checkpoint);
    EXPECT_TRUE(out.result.Succeeded()) << out.err;
    return LastJsonLine(out).value("val_bpb", NAN);
  }
  double RatchetBpb(const fs::path& checkpoint) const {
    CommandOutput out =
        RunProgram({(BinDir() / "ratchet-eval").string(), "--checkpoint", checkpoint.string(),
                    "--data", data_.string(), "--threads", "2", "--max-bytes", kSlice},
                   temp_->path());
    EXPECT_TRUE(out.result.Succeeded()) << out.err;
    return LastJsonLine(out).value("val_bpb", NAN);
  }
  // A ratchet-train checkpoint of `config` after a few thousand tokens.
  fs::path RatchetTrain(const std::string& name, const json& config) const {
    WriteFileAtomic(Path(name + ".json"), config.dump());
    CommandOutput out = RunProgram(
        {(BinDir() / "ratchet-train").string(), "--config", Path(name + ".json").string(), "--data",
         data_.string(), "--out", Path(name + ".ckpt").string(), "--seed", "3", "--threads", "2",
         "--token-budget", "16384"},
        temp_->path());
    EXPECT_TRUE(out.result.Succeeded()) << out.err;
    return Path(name + ".ckpt");
  }
  // evaluate.py's one line on stderr, after a failed run.
  std::string Refusal(const fs::path& checkpoint) const {
    CommandOutput out = Evaluate(checkpoint);
    EXPECT_EQ(out.result.exit_code, 1) << out.out;
    std::string err = out.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    EXPECT_EQ(err.find('\n'), std::string::npos) << "more than one line: " << err;
    return err;
  }
  std::string Hostile(const std::string& kind) const {
    const fs::path out = Path("hostile_" + kind + ".pt");
    CommandOutput made = RunProgram(
        {kPython, (Tools() / "hostile_models.py").string(), kind, out.string()}, temp_->path());
    EXPECT_TRUE(made.result.Succeeded()) << made.err;
    return Refusal(out);
  }

  static TempDir* temp_;
  static fs::path data_;
};
TempDir* NanogptTorch::temp_ = nullptr;
fs::path NanogptTorch::data_;

TEST_F(NanogptTorch, PreparePyWritesRatchetPreparesFilesByteForByte) {
  const fs::path theirs = Path("ratchet-prepare");
  CommandOutput out = RunProgram(
      {(BinDir() / "ratchet-prepare").string(), "--out", theirs.string()}, temp_->path());
  ASSERT_TRUE(out.result.Succeeded()) << out.err;
  for (const char* file : {"train.bin", "val.bin", "manifest.json"}) {
    EXPECT_TRUE(ReadFile(data_ / file) == ReadFile(theirs / file)) << file << " differs";
  }
}

TEST_F(NanogptTorch, EvaluatorAgreesWithRatchetEvalOnRatchetTrainCheckpoints) {
  const json plain = {
      {"n_layer", 2}, {"n_embd", 64}, {"n_head", 4}, {"seq_len", 64}, {"batch_size", 8}};
  json every_option = plain;
  every_option.update({{"norm", "rmsnorm"},
                       {"activation", "swiglu"},
                       {"pos", "rope"},
                       {"rope_base", 1000.0},
                       {"tie_embeddings", true},
                       {"qk_norm", true},
                       {"logit_softcap", 20.0},
                       {"mlp_ratio", 3.0}});
  json relu2 = {
      {"n_layer", 1}, {"n_embd", 32}, {"n_head", 2}, {"seq_len", 32}, {"activation", "relu2"}};
  for (const auto& [name, config] : std::vector<std::pair<std::string, json>>{
           {"plain", plain}, {"every_option", every_option}, {"relu2", relu2}}) {
    const fs::path checkpoint = RatchetTrain(name, config);
    const double ours = TorchBpb(checkpoint), theirs = RatchetBpb(checkpoint);
    EXPECT_NEAR(ours, theirs, 1e-4) << name;
    EXPECT_LT(theirs, 7.5) << name << ": trained a little, so not the uniform 8.0";
  }
}

TEST_F(NanogptTorch, TrainPysGptHoldingTheSameWeightsScoresWhatRatchetEvalScores) {
  const fs::path checkpoint = RatchetTrain(
      "same_weights", {{"n_layer", 2}, {"n_embd", 64}, {"n_head", 4}, {"seq_len", 64}});
  const fs::path scripted = Path("same_weights.pt");
  CommandOutput converted = RunProgram({kPython, (Tools() / "ratchet_to_torchscript.py").string(),
                                        checkpoint.string(), scripted.string()},
                                       temp_->path());
  ASSERT_TRUE(converted.result.Succeeded()) << converted.err;
  EXPECT_NEAR(TorchBpb(scripted), RatchetBpb(checkpoint), 1e-4);
}

TEST_F(NanogptTorch, AModelThatPeeksAtLaterBytesIsRefused) {
  EXPECT_NE(Hostile("peek").find("refused: the model is not causal"), std::string::npos);
  // The next window of its batch holds its continuation too.
  EXPECT_NE(Hostile("batch").find("refused: the model is not causal"), std::string::npos);
}

TEST_F(NanogptTorch, AModelThatReadsFilesIsRefusedBeforeItIsLoaded) {
  EXPECT_NE(Hostile("from_file").find("refused: its code uses from_file"), std::string::npos);
}

TEST_F(NanogptTorch, LogitsOfTheWrongShapeAreRefused) {
  EXPECT_NE(Hostile("shape").find("expected logits of shape (1, "), std::string::npos);
}

TEST_F(NanogptTorch, DamagedCheckpointsAndDataGetOneLineNamingTheFile) {
  const fs::path missing = Path("missing.pt");
  EXPECT_EQ(Refusal(missing), "evaluate.py: " + missing.string() + ": checkpoint not found");

  const fs::path garbage = Path("garbage.pt");
  WriteFileAtomic(garbage, "not a model at all");
  EXPECT_EQ(Refusal(garbage).rfind(
                "evaluate.py: " + garbage.string() + ": not a TorchScript checkpoint", 0),
            0u);

  std::string bytes = ReadFile(
      RatchetTrain("flipped", {{"n_layer", 1}, {"n_embd", 32}, {"n_head", 2}, {"seq_len", 32}}));
  bytes[bytes.size() / 2] ^= 1;
  WriteFileAtomic(Path("flipped.ckpt"), bytes);
  EXPECT_EQ(Refusal(Path("flipped.ckpt")),
            "evaluate.py: " + Path("flipped.ckpt").string() + ": corrupt (checksum mismatch)");
}

TEST_F(NanogptTorch, HeldOutDataThatDiffersFromItsManifestIsRefused) {
  const fs::path copy = Path("tampered");
  fs::create_directories(copy);
  fs::copy_file(data_ / "manifest.json", copy / "manifest.json");
  std::string val = ReadFile(data_ / "val.bin");
  val[0] ^= 1;
  WriteFileAtomic(copy / "val.bin", val);
  CommandOutput out =
      RunProgram({kPython, "-I", (Experiment() / "evaluate.py").string(), "--checkpoint",
                  Path("never-read.ckpt").string(), "--data", copy.string()},  // data come first
                 temp_->path());
  EXPECT_EQ(out.result.exit_code, 1);
  EXPECT_NE(out.err.find((copy / "val.bin").string() + ": SHA-256 differs from"), std::string::npos)
      << out.err;
}

TEST_F(NanogptTorch, TrainPyFollowsItsSeed) {
  auto train = [&](const std::string& seed, const std::string& name) {
    CommandOutput out = RunProgram(
        {kPython, (Experiment() / "train.py").string(), "--data", data_.string(), "--out",
         Path(name).string(), "--seed", seed, "--threads", "2", "--token-budget", "4096"},
        temp_->path());
    EXPECT_TRUE(out.result.Succeeded()) << out.err;
    EXPECT_EQ(LastJsonLine(out).value("tokens", 0), 4096) << out.out;
    return TorchBpb(Path(name));
  };
  const double first = train("1", "seed1.pt"), again = train("1", "seed1_again.pt");
  EXPECT_EQ(first, again);
  EXPECT_NE(train("2", "seed2.pt"), first);
}

}  // namespace
}  // namespace ratchet::testing

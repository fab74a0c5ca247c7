#include "harness/prepare.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "harness/manifest.h"
#include "base/error.h"
#include "base/fs.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

class PrepareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "prepare_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A text of `bytes` pseudo-random lower-case words, fixed by `seed`.
  fs::path WriteText(const std::string& name, std::size_t bytes, unsigned seed = 7) {
    std::mt19937 rng(seed);
    std::string text;
    while (text.size() < bytes) text.push_back(rng() % 8 == 0 ? ' ' : char('a' + rng() % 26));
    const fs::path path = dir_ / name;
    WriteFileAtomic(path, text);
    return path;
  }

  PrepareOptions Options(const std::string& out, std::vector<fs::path> inputs) {
    PrepareOptions options;
    options.out_dir = dir_ / out;
    options.inputs = std::move(inputs);
    options.chunk_bytes = 256;
    return options;
  }

  fs::path dir_;
};

TEST(Sha256Test, MatchesTheStandardTestVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(PrepareTest, SameInputAndOptionsGiveIdenticalBytesInFreshDirectories) {
  const fs::path input = WriteText("corpus.txt", 100000);
  Prepare(Options("a", {input}));
  Prepare(Options("b", {input}));
  for (const char* name : {kTrainFile, kValFile, kManifestFile}) {
    EXPECT_EQ(ReadFile(dir_ / "a" / name), ReadFile(dir_ / "b" / name)) << name;
  }
}

TEST_F(PrepareTest, SplitCoversTheInputExactlyOnceByChunkHash) {
  const fs::path input = WriteText("corpus.txt", 100000 + 77);  // a short last chunk
  const PrepareOptions options = Options("out", {input});
  Prepare(options);
  const std::string text = ReadFile(input);
  const std::string train = ReadFile(options.out_dir / kTrainFile);
  const std::string val = ReadFile(options.out_dir / kValFile);
  EXPECT_EQ(train.size() + val.size(), text.size());

  std::string expected_train, expected_val;
  for (std::size_t start = 0; start < text.size(); start += options.chunk_bytes) {
    const std::string chunk = text.substr(start, options.chunk_bytes);
    (IsValChunk(chunk, options.seed, options.val_fraction) ? expected_val : expected_train) +=
        chunk;
  }
  EXPECT_EQ(train, expected_train);
  EXPECT_EQ(val, expected_val);
  // About a tenth held out, and not one contiguous block at the end.
  EXPECT_GT(val.size(), text.size() / 20);
  EXPECT_LT(val.size(), text.size() / 5);
  EXPECT_NE(text.substr(text.size() - val.size()), val);
}

TEST_F(PrepareTest, ChunkMembershipDependsOnContentAndSeedNotPosition) {
  const std::string chunk(256, 'x');
  // The same bytes decide the same way wherever they are.
  const std::string text = chunk + chunk + chunk;
  PrepareOptions options = Options("unused", {});
  options.val_fraction = 0.5;
  const Split split = SplitCorpus(text + std::string(256 * 40, 'y') + "z", options);
  EXPECT_TRUE(split.train.find(text) != std::string::npos ||
              split.val.find(text) != std::string::npos);
  // Different seeds select different chunks of the same text.
  const fs::path input = WriteText("corpus.txt", 100000);
  PrepareOptions seed1 = Options("s1", {input});
  PrepareOptions seed2 = Options("s2", {input});
  seed2.seed = 2;
  EXPECT_NE(Prepare(seed1).manifest["files"]["val.bin"]["sha256"],
            Prepare(seed2).manifest["files"]["val.bin"]["sha256"]);
}

TEST_F(PrepareTest, ManifestRecordsSizesSumsSplitRuleAndSource) {
  const fs::path input = WriteText("corpus.txt", 50000);
  const PrepareOptions options = Options("out", {input});
  Prepare(options);
  const nlohmann::json manifest = ReadManifest(options.out_dir);
  for (const char* name : {kTrainFile, kValFile}) {
    const std::string bytes = ReadFile(options.out_dir / name);
    EXPECT_EQ(manifest["files"][name]["sha256"], Sha256Hex(bytes)) << name;
    EXPECT_EQ(manifest["files"][name]["bytes"], bytes.size()) << name;
  }
  EXPECT_EQ(manifest["split"]["seed"], 1);
  EXPECT_EQ(manifest["split"]["chunk_bytes"], 256);
  EXPECT_EQ(manifest["source"]["sha256"], Sha256Hex(ReadFile(input)));
  EXPECT_EQ(manifest["source"]["files"][0]["path"], input.string());
}

TEST_F(PrepareTest, RerunWithMatchingManifestWritesNothing) {
  const fs::path input = WriteText("corpus.txt", 50000);
  PrepareOptions options = Options("out", {input});
  EXPECT_FALSE(Prepare(options).up_to_date);
  const auto stamp = fs::last_write_time(options.out_dir / kTrainFile);
  EXPECT_TRUE(Prepare(options).up_to_date);
  EXPECT_EQ(fs::last_write_time(options.out_dir / kTrainFile), stamp);
  options.seed = 3;  // a different rule is a different split
  EXPECT_FALSE(Prepare(options).up_to_date);
}

TEST_F(PrepareTest, TamperedValFileIsRewrittenOnRerunAndRejectedByVerification) {
  const fs::path input = WriteText("corpus.txt", 50000);
  const PrepareOptions options = Options("out", {input});
  Prepare(options);
  const std::string good = ReadFile(options.out_dir / kValFile);
  WriteFileAtomic(options.out_dir / kValFile, good.substr(1));
  try {
    ReadVerified(options.out_dir, ReadManifest(options.out_dir), kValFile);
    FAIL() << "tampered val.bin accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("val.bin"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(Prepare(options).up_to_date);
  EXPECT_EQ(ReadFile(options.out_dir / kValFile), good);
}

TEST_F(PrepareTest, SeveralInputsAreConcatenatedInOrder) {
  const fs::path a = WriteText("a.txt", 30000, 1);
  const fs::path b = WriteText("b.txt", 30000, 2);
  const PrepareOptions options = Options("out", {a, b});
  const nlohmann::json manifest = Prepare(options).manifest;
  EXPECT_EQ(manifest["source"]["sha256"], Sha256Hex(ReadFile(a) + ReadFile(b)));
  EXPECT_EQ(manifest["source"]["bytes"], 60000);
}

TEST_F(PrepareTest, MissingInputFileIsNamed) {
  const fs::path missing = dir_ / "no-such-corpus.txt";
  try {
    Prepare(Options("out", {missing}));
    FAIL() << "missing input accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / kManifestFile));
}

TEST_F(PrepareTest, EmptyCorpusIsAnError) {
  const fs::path empty = dir_ / "empty.txt";
  WriteFileAtomic(empty, "");
  EXPECT_THROW(Prepare(Options("out", {empty})), Error);
}

TEST_F(PrepareTest, CorpusTooSmallForAValidationChunkIsAnError) {
  const fs::path small = WriteText("small.txt", 100);  // one chunk
  try {
    Prepare(Options("out", {small}));
    FAIL() << "split without validation accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chunk fell into validation"), std::string::npos)
        << e.what();
  }
}

TEST_F(PrepareTest, OutOfRangeValFractionIsAnError) {
  const fs::path input = WriteText("corpus.txt", 5000);
  PrepareOptions options = Options("out", {input});
  options.val_fraction = 1.5;
  EXPECT_THROW(Prepare(options), Error);
}

TEST_F(PrepareTest, DefaultCorpusIsTheKingJamesBible) {
  if (std::system("command -v bible >/dev/null 2>&1") != 0) GTEST_SKIP() << "bible not installed";
  PrepareOptions options;
  options.out_dir = dir_ / "kjv";
  const nlohmann::json manifest = Prepare(options).manifest;
  EXPECT_GT(manifest["source"]["bytes"].get<std::size_t>(), 4000000u);
  const std::string val = ReadFile(options.out_dir / kValFile);
  EXPECT_GT(val.size(), 300000u);
  EXPECT_NE(ReadFile(options.out_dir / kTrainFile).find("In the beginning God created"),
            std::string::npos);
}

TEST_F(PrepareTest, ProgramReportsAMissingInputWithNonZeroExit) {
  const std::string command = std::string(RATCHET_BIN_DIR) + "/ratchet-prepare --out " +
                              (dir_ / "out").string() + " --input " +
                              (dir_ / "absent.txt").string() + " 2>" + (dir_ / "err.txt").string();
  EXPECT_NE(std::system(command.c_str()), 0);
  EXPECT_NE(ReadFile(dir_ / "err.txt").find("absent.txt: input file not found"), std::string::npos);
}

}  // namespace
}  // namespace ratchet

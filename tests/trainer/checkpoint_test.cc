#include "trainer/checkpoint.h"

#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "trainer_test_util.h"

namespace ratchet::train {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(const std::string& bytes) {
  try {
    ParseCheckpoint(bytes, "ckpt.bin");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest()
      : config_(testing::TinyConfig({{"norm", "rmsnorm"}, {"qk_norm", true}})),
        model_(config_, 2, 8, false) {
    model_.InitParams(9);
    bytes_ = SerializeCheckpoint(model_, {{"step", 12}, {"seed", 9}});
  }
  Config config_;
  Model model_;
  std::string bytes_;
};

TEST_F(CheckpointTest, RoundTripIsBitwiseAndKeepsConfigAndMeta) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "model.ckpt").string();
  SaveCheckpoint(path, model_, {{"step", 12}, {"seed", 9}});
  LoadedCheckpoint loaded = LoadCheckpoint(path);
  EXPECT_EQ(ToJson(loaded.config), ToJson(config_));
  EXPECT_EQ(loaded.meta["step"], 12);
  ASSERT_EQ(loaded.params.size(), model_.num_params());
  EXPECT_EQ(std::memcmp(loaded.params.data(), model_.params(), model_.num_params() * 4), 0);
  Model copy(loaded.config, 1, 4, false);
  CopyParams(loaded, copy);
  EXPECT_EQ(std::memcmp(copy.params(), model_.params(), model_.num_params() * 4), 0);
  // Nothing but the checkpoint is left in the folder (atomic write cleaned up).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST_F(CheckpointTest, LayoutFollowsTheContract) {
  EXPECT_EQ(bytes_.substr(0, 8), "RCHTCKPT");
  uint32_t version;
  uint64_t header_length;
  std::memcpy(&version, bytes_.data() + 8, 4);
  std::memcpy(&header_length, bytes_.data() + 16, 8);
  EXPECT_EQ(version, 1u);
  auto header = nlohmann::json::parse(bytes_.substr(24, header_length));
  EXPECT_EQ(header["tensors"][0]["name"], "wte");
  EXPECT_EQ(header["tensors"][1]["offset"], 256 * 16 * 4);
  size_t data_start = (24 + header_length + 63) / 64 * 64;
  EXPECT_EQ(bytes_.size(), data_start + model_.num_params() * 4 + 32);
  EXPECT_EQ(std::memcmp(bytes_.data() + data_start, model_.params(), 16), 0);
}

TEST_F(CheckpointTest, FlippedByteInTheDataIsRejectedAsCorrupt) {
  std::string bad = bytes_;
  bad[bad.size() - 100] ^= 0x01;
  EXPECT_EQ(ErrorOf(bad), "ckpt.bin: corrupt checkpoint (checksum mismatch)");
}

TEST_F(CheckpointTest, FlippedByteInTheHeaderIsRejectedAsCorrupt) {
  std::string bad = bytes_;
  bad[40] ^= 0x20;
  EXPECT_EQ(ErrorOf(bad), "ckpt.bin: corrupt checkpoint (checksum mismatch)");
}

TEST_F(CheckpointTest, TruncatedFileIsRejected) {
  EXPECT_THAT(ErrorOf(bytes_.substr(0, bytes_.size() - 1000)),
              HasSubstr("ckpt.bin: truncated checkpoint"));
  EXPECT_THAT(ErrorOf(bytes_.substr(0, 30)), HasSubstr("ckpt.bin: truncated checkpoint"));
  EXPECT_THAT(ErrorOf(bytes_.substr(0, 12)), HasSubstr("ckpt.bin: truncated checkpoint"));
}

TEST_F(CheckpointTest, ForeignFileIsNotACheckpoint) {
  EXPECT_EQ(ErrorOf("{\"hello\": 1}"), "ckpt.bin: not a ratchet checkpoint (bad magic)");
  EXPECT_EQ(ErrorOf(""), "ckpt.bin: not a ratchet checkpoint (bad magic)");
}

TEST_F(CheckpointTest, UnknownVersionIsRejected) {
  std::string bad = bytes_;
  bad[8] = 2;
  EXPECT_THAT(ErrorOf(bad), HasSubstr("ckpt.bin: unsupported checkpoint version 2"));
}

TEST_F(CheckpointTest, TrailingBytesAreAHeaderTensorMismatch) {
  EXPECT_THAT(ErrorOf(bytes_ + std::string(8, '\0')), HasSubstr("ckpt.bin: header/tensor mismatch"));
}

TEST_F(CheckpointTest, MissingFileNamesThePath) {
  EXPECT_THAT([] { LoadCheckpoint("/nonexistent/x.ckpt"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("/nonexistent/x.ckpt")));
}

TEST_F(CheckpointTest, CopyIntoAModelOfAnotherShapeIsRefused) {
  LoadedCheckpoint loaded = ParseCheckpoint(bytes_, "ckpt.bin");
  Model other(testing::TinyConfig(), 1, 8, false);
  EXPECT_THROW(CopyParams(loaded, other), Error);
}

}  // namespace
}  // namespace ratchet::train

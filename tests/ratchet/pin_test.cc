#include "ratchet/loop/pin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace ratchet {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class PinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ratchet-pin-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const fs::path& rel, const std::string& contents) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << contents;
    return p;
  }

  template <typename Fn>
  static std::string ErrorOf(Fn fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST(Sha256Test, MatchesTheStandardTestVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(PinTest, HashingAFileInChunksEqualsHashingItsBytes) {
  std::string big;
  for (int i = 0; i < 300000; ++i) big += static_cast<char>(i * 7 % 251);  // > several chunks
  fs::path f = Write("big.bin", big);
  EXPECT_EQ(Sha256File(f), Sha256Hex(big));
  EXPECT_EQ(Sha256File(Write("empty", "")), Sha256Hex(""));
}

TEST_F(PinTest, HashingAMissingFileNamesIt) {
  std::string message = ErrorOf([&] { Sha256File(dir_ / "nope.bin"); });
  EXPECT_THAT(message, HasSubstr((dir_ / "nope.bin").string()));
  EXPECT_THAT(message, HasSubstr("No such file"));
}

TEST_F(PinTest, PinningAMissingPathNamesIt) {
  std::string message = ErrorOf([&] { Pins::Compute({dir_ / "eval"}); });
  EXPECT_THAT(message, HasSubstr((dir_ / "eval").string()));
  EXPECT_THAT(message, HasSubstr("does not exist"));
}

TEST_F(PinTest, VerifyPassesWhenNothingChanged) {
  fs::path eval = Write("eval", "program");
  Write("data/val.bin", "heldout");
  Pins pins = Pins::Compute({eval, dir_ / "data"});
  EXPECT_NO_THROW(pins.Verify());
  // Rewriting identical bytes (new mtime) is not a change.
  Write("eval", "program");
  EXPECT_NO_THROW(pins.Verify());
}

TEST_F(PinTest, VerifyCatchesOneChangedByteAndNamesTheFileAndBothHashes) {
  fs::path eval = Write("eval", "program v1");
  Pins pins = Pins::Compute({eval});
  std::string old_hash = Sha256Hex("program v1");
  Write("eval", "program v2");
  std::string new_hash = Sha256Hex("program v2");
  EXPECT_EQ(ErrorOf([&] { pins.Verify(); }),
            "evaluator file changed since run start: " + eval.string() + " (sha256 " +
                old_hash.substr(0, 12) + "\u2026 -> " + new_hash.substr(0, 12) + "\u2026)");
}

TEST_F(PinTest, VerifyCatchesADeletedFile) {
  fs::path eval = Write("eval", "program");
  fs::path val = Write("data/val.bin", "heldout");
  Pins pins = Pins::Compute({eval, dir_ / "data"});
  fs::remove(val);
  EXPECT_EQ(ErrorOf([&] { pins.Verify(); }),
            "evaluator file changed since run start: " + val.string() + " is missing");
}

TEST_F(PinTest, VerifyCatchesAFileAddedToAPinnedDirectory) {
  Write("data/val.bin", "heldout");
  Pins pins = Pins::Compute({dir_ / "data"});
  fs::path extra = Write("data/sub/extra.bin", "easier heldout");
  std::string message = ErrorOf([&] { pins.Verify(); });
  EXPECT_THAT(message, HasSubstr(extra.string() + " was added to " + (dir_ / "data").string()));
}

TEST_F(PinTest, DirectoriesArePinnedRecursivelyInSortedOrder) {
  Write("data/b.bin", "b");
  Write("data/a/z.bin", "z");
  Write("data/a/c.bin", "c");
  Pins pins = Pins::Compute({dir_ / "data"});
  ASSERT_EQ(pins.files().size(), 3u);
  EXPECT_EQ(pins.files()[0].path, (dir_ / "data/a/c.bin").string());
  EXPECT_EQ(pins.files()[1].path, (dir_ / "data/a/z.bin").string());
  EXPECT_EQ(pins.files()[2].path, (dir_ / "data/b.bin").string());
  EXPECT_EQ(pins.files()[2].sha256, Sha256Hex("b"));
  EXPECT_EQ(pins.dirs(), std::vector<std::string>{(dir_ / "data").string()});
}

TEST_F(PinTest, TheDigestIgnoresTheOrderPathsWereGivenIn) {
  fs::path a = Write("a", "1");
  fs::path b = Write("b", "2");
  Write("d/x", "3");
  std::string digest = Pins::Compute({a, b, dir_ / "d"}).Digest();
  EXPECT_EQ(Pins::Compute({dir_ / "d", b, a}).Digest(), digest);
  EXPECT_EQ(Pins::Compute({b, a, dir_ / "d", a}).Digest(), digest);  // duplicates merge
  EXPECT_EQ(digest.size(), 64u);
  Write("b", "2!");
  EXPECT_NE(Pins::Compute({a, b, dir_ / "d"}).Digest(), digest);
  EXPECT_NE(Pins::Compute({a, b}).Digest(), digest);
}

TEST_F(PinTest, JsonRoundTripKeepsFilesDirsAndDigest) {
  fs::path eval = Write("eval", "program");
  Write("data/val.bin", "heldout");
  Pins pins = Pins::Compute({eval, dir_ / "data"});
  Pins back = Pins::FromJson(nlohmann::json::parse(pins.ToJson().dump()));
  EXPECT_EQ(back.files(), pins.files());
  EXPECT_EQ(back.dirs(), pins.dirs());
  EXPECT_EQ(back.Digest(), pins.Digest());
  Write("eval", "tampered");
  EXPECT_THAT(ErrorOf([&] { back.Verify(); }), HasSubstr(eval.string()));
}

TEST(PinJsonTest, MalformedJsonIsRefusedNamingTheKey) {
  auto error_of = [](const nlohmann::json& j) {
    try {
      Pins::FromJson(j);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(error_of({{"version", 2}, {"files", nlohmann::json::array()}}), HasSubstr("version"));
  EXPECT_THAT(error_of({{"version", 1}}), HasSubstr("files"));
  EXPECT_THAT(error_of(nlohmann::json::parse(R"({"version":1,"files":[{"path":"x"}]})")),
              HasSubstr("files[0]"));
  EXPECT_THAT(
      error_of(nlohmann::json::parse(R"({"version":1,"files":[{"path":"x","sha256":"ab"}]})")),
      HasSubstr("files[0].sha256"));
  EXPECT_TRUE(error_of(nlohmann::json::parse(R"({"version":1,"files":[]})")).empty());
}

}  // namespace
}  // namespace ratchet

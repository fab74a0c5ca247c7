// Replies of LLM proposers: recognising parameters, diffs and whole files,
// and applying them safely to a worktree.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "base/fs.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/propose/reply_parser.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(ParseReply, ABareJsonObjectIsParameterChanges) {
  ParsedReply r = ParseReply(R"({"lr": 0.002, "depth": 6})");
  EXPECT_EQ(r.kind, ParsedReply::Kind::kParams);
  EXPECT_EQ(r.params["lr"], 0.002);
  EXPECT_EQ(r.params["depth"], 6);
}

TEST(ParseReply, AJsonBlockAfterProseGivesParamsAndTheDescription) {
  ParsedReply r = ParseReply(
      "Lower the learning rate to reduce instability.\n\n```json\n{\"lr\": 0.001}\n```\n");
  EXPECT_EQ(r.kind, ParsedReply::Kind::kParams);
  EXPECT_EQ(r.params, (nlohmann::ordered_json{{"lr", 0.001}}));
  EXPECT_EQ(r.description, "Lower the learning rate to reduce instability.");
}

TEST(ParseReply, AWrappedObjectTakesItsDescriptionAndParams) {
  ParsedReply r = ParseReply(R"({"description": "wider", "params": {"width": 512}})");
  EXPECT_EQ(r.kind, ParsedReply::Kind::kParams);
  EXPECT_EQ(r.params, (nlohmann::ordered_json{{"width", 512}}));
  EXPECT_EQ(r.description, "wider");
}

TEST(ParseReply, ThinkingIsIgnored) {
  ParsedReply r = ParseReply("<think>maybe {\"x\": 9}?</think>\n{\"x\": 1}");
  EXPECT_EQ(r.params["x"], 1);
}

TEST(ParseReply, AFencedDiffIsADiff) {
  ParsedReply r = ParseReply(
      "Use GELU.\n```diff\n--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n-act = relu\n+act = "
      "gelu\n x = 1\n```\n");
  EXPECT_EQ(r.kind, ParsedReply::Kind::kDiff);
  EXPECT_NE(r.diff.find("+act = gelu"), std::string::npos);
  EXPECT_EQ(r.description, "Use GELU.");
}

TEST(ParseReply, FencedBlocksNamedByInfoStringOrHeadingAreWholeFiles) {
  ParsedReply r = ParseReply(
      "Two files.\n```python train.py\nprint(1)\n```\n### `cfg/model.json`\n```json\n{\"a\": "
      "1}\n```\n");
  EXPECT_EQ(r.kind, ParsedReply::Kind::kFiles);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].path, "train.py");
  EXPECT_EQ(r.files[0].contents, "print(1)\n");
  EXPECT_EQ(r.files[1].path, "cfg/model.json");
  EXPECT_EQ(r.description, "Two files.");
}

TEST(ParseReply, GarbageIsAProposalErrorQuotingTheReply) {
  try {
    ParseReply("I think you should try harder next time.");
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("no JSON object"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("try harder"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseReply(""), ProposalError);
  EXPECT_THROW(ParseReply("[1, 2, 3]"), ProposalError);
}

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "reply_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  std::string Read(const std::string& rel) { return ReadFile(root_ / rel); }
  fs::path root_;
};

TEST_F(ApplyTest, DiffHunksArePlacedByContextEvenWithWrongLineNumbers) {
  Write("train.py", "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n");
  std::vector<std::string> changed = ApplyUnifiedDiff(
      root_,
      "--- a/train.py\n+++ b/train.py\n@@ -40,3 +40,3 @@\n c = 3\n-d = 4\n+d = 40\n e = 5\n"
      "@@ -1,2 +1,3 @@\n a = 1\n+a2 = 1.5\n b = 2\n");
  EXPECT_EQ(changed, std::vector<std::string>{"train.py"});
  EXPECT_EQ(Read("train.py"), "a = 1\na2 = 1.5\nb = 2\nc = 3\nd = 40\ne = 5\n");
}

TEST_F(ApplyTest, DiffCreatesAndDeletesFiles) {
  Write("old.txt", "bye\n");
  ApplyUnifiedDiff(root_,
                   "--- /dev/null\n+++ b/new/file.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n"
                   "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n");
  EXPECT_EQ(Read("new/file.txt"), "hello\nworld\n");
  EXPECT_FALSE(fs::exists(root_ / "old.txt"));
}

TEST_F(ApplyTest, AnUnappliableHunkChangesNothingAndNamesTheHunk) {
  Write("a.txt", "one\ntwo\n");
  Write("b.txt", "three\n");
  try {
    ApplyUnifiedDiff(root_,
                     "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+ONE\n"
                     "--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-four\n+FOUR\n");
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("hunk 1 of b.txt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(Read("a.txt"), "one\ntwo\n");  // all or nothing
}

TEST_F(ApplyTest, PathsOutsideTheWorktreeOrIntoGitAreRefused) {
  EXPECT_THROW(WriteFiles(root_, {{"../escape.txt", "x"}}), ProposalError);
  EXPECT_THROW(WriteFiles(root_, {{"/etc/passwd", "x"}}), ProposalError);
  EXPECT_THROW(WriteFiles(root_, {{".git/config", "x"}}), ProposalError);
  fs::create_directory_symlink("/tmp", root_ / "link");
  EXPECT_THROW(WriteFiles(root_, {{"link/x.txt", "x"}}), ProposalError);
  EXPECT_THROW(ApplyUnifiedDiff(root_, "--- /dev/null\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n"),
               ProposalError);
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape.txt"));
}

TEST_F(ApplyTest, ParamsRewriteOnlyChangedKeysAndCheckTheSpace) {
  Write("params.json",
        "{\n  \"x\": 1.0,\n  \"optim\": {\n    \"lr\": 0.003\n  },\n  \"act\": \"relu\"\n}\n");
  SearchSpace space;
  Param lr;
  lr.name = "optim.lr";
  lr.min = 1e-4;
  lr.max = 1e-1;
  lr.log = true;
  Param act;
  act.name = "act";
  act.type = Param::Type::kChoice;
  act.values = {"relu", "gelu"};
  space.params = {lr, act};
  json full;
  std::string d =
      ApplyParams(root_, "params.json", space,
                  nlohmann::ordered_json{{"optim", {{"lr", 0.001}}}, {"act", "gelu"}}, &full);
  EXPECT_EQ(d, "optim.lr 0.003 -> 0.001, act relu -> gelu");
  EXPECT_EQ(Read("params.json"),
            "{\n  \"x\": 1.0,\n  \"optim\": {\n    \"lr\": 0.001\n  },\n  \"act\": \"gelu\"\n}\n");
  EXPECT_EQ(full["optim"]["lr"], 0.001);
  // Outside the space, unknown, or no change: errors, file untouched.
  EXPECT_THROW(ApplyParams(root_, "params.json", space, {{"optim.lr", 5.0}}, nullptr),
               ProposalError);
  EXPECT_THROW(ApplyParams(root_, "params.json", space, {{"act", "swish"}}, nullptr),
               ProposalError);
  EXPECT_THROW(ApplyParams(root_, "params.json", space, {{"nope", 1}}, nullptr), ProposalError);
  EXPECT_THROW(ApplyParams(root_, "params.json", space, {{"act", "gelu"}}, nullptr), ProposalError);
  // A key outside the space but present in the config may change.
  ApplyParams(root_, "params.json", space, {{"x", 2.5}}, nullptr);
  EXPECT_EQ(json::parse(Read("params.json"))["x"], 2.5);
}

}  // namespace
}  // namespace ratchet

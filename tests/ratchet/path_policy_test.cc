#include "ratchet/git/path_policy.h"

#include <gtest/gtest.h>

namespace ratchet {
namespace {

ChangedPath Modified(std::string path) {
  ChangedPath c;
  c.kind = ChangeKind::kModified;
  c.path = path;
  c.old_path = path;
  c.old_mode = c.new_mode = 0100644;
  return c;
}

ChangeSet Of(std::vector<ChangedPath> paths) {
  ChangeSet s;
  s.paths = std::move(paths);
  return s;
}

TEST(GlobMatch, StarStaysWithinOneSegment) {
  EXPECT_TRUE(GlobMatch("*.json", "params.json"));
  EXPECT_FALSE(GlobMatch("*.json", "conf/params.json"));
  EXPECT_TRUE(GlobMatch("conf/*.json", "conf/params.json"));
  EXPECT_FALSE(GlobMatch("conf/*", "conf/a/b.json"));
  EXPECT_TRUE(GlobMatch("*", "train.py"));
  EXPECT_FALSE(GlobMatch("*", "src/train.py"));
}

TEST(GlobMatch, QuestionMarkMatchesOneCharacterButNotSlash) {
  EXPECT_TRUE(GlobMatch("run?.py", "run1.py"));
  EXPECT_FALSE(GlobMatch("run?.py", "run12.py"));
  EXPECT_FALSE(GlobMatch("a?b", "a/b"));
}

TEST(GlobMatch, DoubleStarCrossesZeroOrMoreSegments) {
  EXPECT_TRUE(GlobMatch("src/**/*.py", "src/a.py"));
  EXPECT_TRUE(GlobMatch("src/**/*.py", "src/x/y/a.py"));
  EXPECT_FALSE(GlobMatch("src/**/*.py", "lib/a.py"));
  EXPECT_TRUE(GlobMatch("**", "a/b/c"));
  EXPECT_TRUE(GlobMatch("**/*.json", "params.json"));
  EXPECT_TRUE(GlobMatch("**/*.json", "a/b/params.json"));
  EXPECT_TRUE(GlobMatch("conf/**", "conf/a/b"));
  EXPECT_FALSE(GlobMatch("conf/**", "other/a"));
}

TEST(GlobMatch, WholePathMustMatchLiterally) {
  EXPECT_TRUE(GlobMatch("params.json", "params.json"));
  EXPECT_FALSE(GlobMatch("params.json", "params.json.bak"));
  EXPECT_FALSE(GlobMatch("params.json", "xparams.json"));
  EXPECT_FALSE(GlobMatch("/params.json", "params.json"));
  EXPECT_FALSE(GlobMatch("", "params.json"));
}

TEST(CheckChanges, EditsInsideMutableGlobsPass) {
  EXPECT_EQ(CheckChanges(Of({Modified("params.json"), Modified("model/a.py")}),
                         {"params.json", "model/**"}),
            std::nullopt);
  EXPECT_EQ(CheckChanges(Of({}), {}), std::nullopt);
}

TEST(CheckChanges, EditOutsideMutableGlobsIsRejectedNamingThePath) {
  auto reason = CheckChanges(Of({Modified("params.json"), Modified("harness.py")}), {"params.json"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(*reason, "params.json is mutable; harness.py is not: modified harness.py");
}

TEST(CheckChanges, NothingMutableRejectsAnyChange) {
  auto reason = CheckChanges(Of({Modified("a.txt")}), {});
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(*reason, "nothing is mutable; a.txt is not: modified a.txt");
}

TEST(CheckChanges, RenameNeedsBothSidesMutable) {
  ChangedPath c = Modified("conf/new.json");
  c.kind = ChangeKind::kRenamed;
  c.old_path = "eval.py";
  auto reason = CheckChanges(Of({c}), {"conf/*"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("eval.py is not"), std::string::npos) << *reason;
}

TEST(CheckChanges, SymlinkIsRejectedEvenInsideMutableGlobs) {
  ChangedPath c = Modified("params.json");
  c.kind = ChangeKind::kTypeChanged;
  c.new_mode = 0120000;
  c.is_symlink = true;
  c.mode_changed = true;
  auto reason = CheckChanges(Of({c}), {"**"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("symlink"), std::string::npos) << *reason;
}

TEST(CheckChanges, DotDotSegmentEscapes) {
  auto reason = CheckChanges(Of({Modified("conf/../../etc/passwd")}), {"**"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("escapes"), std::string::npos) << *reason;
  // ".." inside a name is not a segment.
  EXPECT_EQ(CheckChanges(Of({Modified("a..b")}), {"**"}), std::nullopt);
}

TEST(CheckChanges, AbsolutePathEscapes) {
  auto reason = CheckChanges(Of({Modified("/etc/passwd")}), {"**"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("escapes"), std::string::npos) << *reason;
}

TEST(CheckChanges, PathInsideDotGitIsRejected) {
  for (const char* p : {".git/config", "sub/.git/HEAD"}) {
    auto reason = CheckChanges(Of({Modified(p)}), {"**"});
    ASSERT_TRUE(reason.has_value()) << p;
    EXPECT_NE(reason->find(".git"), std::string::npos) << *reason;
  }
}

}  // namespace
}  // namespace ratchet

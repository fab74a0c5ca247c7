#include "ratchet/git/workspace.h"

#include <git2.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/git/git_util.h"
#include "ratchet/git/path_policy.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git::EnsureInit();  // the tests also call libgit2 directly
    std::string pattern = (fs::temp_directory_path() / "ratchet-ws-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    tmpl_ = root_ / "template";
    Write(tmpl_ / "params.json", "{\"lr\": 0.1}\n");
    Write(tmpl_ / "train.py", "print('train')\n");
    Write(tmpl_ / "eval/evaluate.py", "print('eval')\n");
    Write(tmpl_ / ".gitignore", "*.log\n");
    Write(tmpl_ / "old.log", "ignored\n");
    fs::permissions(tmpl_ / "train.py", fs::perms::owner_exec, fs::perm_options::add);
    dir_ = root_ / "ws";
  }
  void TearDown() override { fs::remove_all(root_); }

  // Reads a ref with libgit2 directly, independent of Workspace.
  std::string RawRef(const std::string& name) {
    git_repository* repo = nullptr;
    EXPECT_EQ(git_repository_open(&repo, dir_.c_str()), 0);
    git_oid oid;
    std::string out;
    if (git_reference_name_to_id(&oid, repo, name.c_str()) == 0) out = git_oid_tostr_s(&oid);
    git_repository_free(repo);
    return out;
  }
  std::string HeadTarget() {
    git_repository* repo = nullptr;
    EXPECT_EQ(git_repository_open(&repo, dir_.c_str()), 0);
    git_reference* head = nullptr;
    EXPECT_EQ(git_reference_lookup(&head, repo, "HEAD"), 0);
    std::string out = git_reference_symbolic_target(head) ? git_reference_symbolic_target(head) : "";
    git_reference_free(head);
    git_repository_free(repo);
    return out;
  }

  // A commit on top of base with params.json replaced.
  std::string CommitParams(Workspace& ws, const std::string& base, const std::string& params,
                           int64_t seq) {
    fs::path wt = ws.PrepareCandidate("t", seq, base);
    Write(wt / "params.json", params);
    std::string c = ws.CommitCandidate(wt, base, "set params " + std::to_string(seq));
    ws.RemoveCandidate("t", seq);
    return c;
  }

  fs::path root_, tmpl_, dir_;
};

TEST_F(WorkspaceTest, CreatesRepositoryFromTemplateWithBaselineOnMain) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  ASSERT_EQ(ws.BaselineCommit().size(), 40u);
  EXPECT_EQ(ws.dir(), dir_);
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.1}\n");
  EXPECT_EQ(ws.ReadFileAt(ws.BaselineCommit(), "eval/evaluate.py"), "print('eval')\n");
  EXPECT_EQ(HeadTarget(), "refs/heads/main");
  EXPECT_EQ(RawRef("HEAD"), ws.BaselineCommit());
  // Ignored by the template's .gitignore: copied, not committed.
  EXPECT_TRUE(fs::exists(dir_ / "old.log"));
  EXPECT_THROW(ws.ReadFileAt(ws.BaselineCommit(), "old.log"), Error);
  EXPECT_NE(ReadFile(dir_ / ".git/info/exclude").find("/.ratchet/"), std::string::npos);
  // Authored by ratchet, whatever the user's git config says.
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open(&repo, dir_.c_str()), 0);
  git_oid oid;
  git_oid_fromstr(&oid, ws.BaselineCommit().c_str());
  git_commit* commit = nullptr;
  ASSERT_EQ(git_commit_lookup(&commit, repo, &oid), 0);
  EXPECT_STREQ(git_commit_author(commit)->name, "ratchet");
  EXPECT_STREQ(git_commit_committer(commit)->email, "ratchet@localhost");
  EXPECT_EQ(git_commit_parentcount(commit), 0u);
  git_commit_free(commit);
  git_repository_free(repo);
}

TEST_F(WorkspaceTest, RatchetDirIsIgnoredByGitStatus) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  Write(dir_ / ".ratchet/store.db", "x");
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open(&repo, dir_.c_str()), 0);
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED;
  git_status_list* list = nullptr;
  ASSERT_EQ(git_status_list_new(&list, repo, &opts), 0);
  EXPECT_EQ(git_status_list_entrycount(list), 0u);
  git_status_list_free(list);
  git_repository_free(repo);
}

TEST_F(WorkspaceTest, ReopeningReturnsTheSameBaseline) {
  std::string baseline = Workspace::OpenOrCreate(dir_, tmpl_).BaselineCommit();
  Write(tmpl_ / "params.json", "changed template is not re-imported");
  Workspace again = Workspace::OpenOrCreate(dir_, tmpl_);
  EXPECT_EQ(again.BaselineCommit(), baseline);
  EXPECT_EQ(Workspace::Open(dir_).BaselineCommit(), baseline);
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.1}\n");
}

TEST_F(WorkspaceTest, EmptyExistingDirectoryIsAccepted) {
  fs::create_directories(dir_);
  EXPECT_EQ(Workspace::OpenOrCreate(dir_, tmpl_).BaselineCommit().size(), 40u);
}

TEST_F(WorkspaceTest, NonEmptyDirectoryThatIsNotAWorkspaceIsRefusedByName) {
  Write(dir_ / "precious.txt", "keep me");
  try {
    Workspace::OpenOrCreate(dir_, tmpl_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / ".git"));
  EXPECT_EQ(ReadFile(dir_ / "precious.txt"), "keep me");
}

TEST_F(WorkspaceTest, ForeignGitRepositoryIsNotAWorkspace) {
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_init(&repo, dir_.c_str(), 0), 0);
  git_repository_free(repo);
  EXPECT_THROW(Workspace::OpenOrCreate(dir_, tmpl_), Error);
}

TEST_F(WorkspaceTest, SymlinkInTemplateIsRefused) {
  fs::create_symlink("/etc/passwd", tmpl_ / "link");
  try {
    Workspace::OpenOrCreate(dir_, tmpl_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("symlink"), std::string::npos) << e.what();
  }
  // Nothing half-made is left: fixing the template and retrying works.
  EXPECT_FALSE(fs::exists(dir_));
  fs::remove(tmpl_ / "link");
  EXPECT_EQ(Workspace::OpenOrCreate(dir_, tmpl_).BaselineCommit().size(), 40u);
}

TEST_F(WorkspaceTest, InvalidTagIsRefused) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  EXPECT_THROW(ws.ResolveBranch("a/b"), Error);
  EXPECT_THROW(ws.ResolveBranch("../x"), Error);
  EXPECT_THROW(ws.ResolveBranch(""), Error);
  EXPECT_EQ(ws.ResolveBranch("run-1.a_b"), "");
}

TEST_F(WorkspaceTest, CandidateWorktreeHoldsTheBaseCommitsFiles) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  std::string c1 = CommitParams(ws, ws.BaselineCommit(), "{\"lr\": 0.2}\n", 1);
  fs::path wt = ws.PrepareCandidate("t", 2, c1);
  EXPECT_EQ(wt, dir_ / ".ratchet/worktrees/t-2");
  EXPECT_EQ(ReadFile(wt / "params.json"), "{\"lr\": 0.2}\n");
  EXPECT_EQ(ReadFile(wt / "eval/evaluate.py"), "print('eval')\n");
  EXPECT_TRUE((fs::status(wt / "train.py").permissions() & fs::perms::owner_exec) != fs::perms::none);
  EXPECT_FALSE(fs::exists(wt / "old.log"));
  ChangeSet none = ws.Changes(wt, c1);
  EXPECT_TRUE(none.paths.empty());
  EXPECT_EQ(none.stat, "");
  EXPECT_EQ(none.patch, "");
  // The main working dir is untouched.
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.1}\n");
}

TEST_F(WorkspaceTest, ChangesListModifiedAddedDeletedSymlinkAndUntrackedPaths) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  fs::path wt = ws.PrepareCandidate("t", 1, base);
  Write(wt / "params.json", "{\"lr\": 0.3}\n");         // modify
  Write(wt / "new/extra.py", "x = 1\n");                 // untracked file in new dir
  fs::remove(wt / "eval/evaluate.py");                   // delete
  fs::create_symlink("params.json", wt / "alias.json");  // symlink added
  Write(wt / "debug.log", "ignored\n");                  // ignored by .gitignore
  Write(wt / ".ratchet/state", "ignored\n");             // controller dir

  ChangeSet cs = ws.Changes(wt, base);
  std::map<std::string, ChangedPath> by_path;
  for (const ChangedPath& c : cs.paths) by_path[c.path] = c;
  ASSERT_EQ(by_path.size(), 4u) << cs.patch;
  EXPECT_EQ(by_path["params.json"].kind, ChangeKind::kModified);
  EXPECT_FALSE(by_path["params.json"].is_symlink);
  EXPECT_EQ(by_path["new/extra.py"].kind, ChangeKind::kAdded);
  EXPECT_EQ(by_path["eval/evaluate.py"].kind, ChangeKind::kDeleted);
  EXPECT_EQ(by_path["eval/evaluate.py"].new_mode, 0u);
  EXPECT_EQ(by_path["alias.json"].kind, ChangeKind::kAdded);
  EXPECT_TRUE(by_path["alias.json"].is_symlink);
  EXPECT_EQ(cs.stat, "4 files changed, 3 insertions(+), 2 deletions(-)");
  EXPECT_NE(cs.patch.find("+x = 1"), std::string::npos) << cs.patch;
  EXPECT_NE(cs.patch.find("-{\"lr\": 0.1}"), std::string::npos) << cs.patch;

  auto reason = CheckChanges(cs, {"**"});
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("alias.json"), std::string::npos) << *reason;
}

TEST_F(WorkspaceTest, ChangesReportModeChangeAndFileTurnedIntoSymlink) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  fs::path wt = ws.PrepareCandidate("t", 1, base);
  fs::permissions(wt / "eval/evaluate.py", fs::perms::owner_exec, fs::perm_options::add);
  fs::remove(wt / "params.json");
  fs::create_symlink("/etc/hostname", wt / "params.json");
  ChangeSet cs = ws.Changes(wt, base);
  ASSERT_EQ(cs.paths.size(), 2u) << cs.patch;
  std::map<std::string, ChangedPath> by_path;
  for (const ChangedPath& c : cs.paths) by_path[c.path] = c;
  EXPECT_TRUE(by_path["eval/evaluate.py"].mode_changed);
  EXPECT_EQ(by_path["eval/evaluate.py"].new_mode, 0100755u);
  EXPECT_FALSE(by_path["eval/evaluate.py"].is_symlink);
  EXPECT_EQ(by_path["params.json"].kind, ChangeKind::kTypeChanged);
  EXPECT_TRUE(by_path["params.json"].is_symlink);
  EXPECT_TRUE(by_path["params.json"].mode_changed);
}

TEST_F(WorkspaceTest, ChangesDetectARename) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  fs::path wt = ws.PrepareCandidate("t", 1, base);
  Write(wt / "eval/evaluate.py", std::string(200, 'e') + "\n");
  std::string c1 = ws.CommitCandidate(wt, base, "big eval");
  ws.RemoveCandidate("t", 1);
  wt = ws.PrepareCandidate("t", 2, c1);
  fs::rename(wt / "eval/evaluate.py", wt / "evaluate2.py");
  ChangeSet cs = ws.Changes(wt, c1);
  ASSERT_EQ(cs.paths.size(), 1u) << cs.patch;
  EXPECT_EQ(cs.paths[0].kind, ChangeKind::kRenamed);
  EXPECT_EQ(cs.paths[0].path, "evaluate2.py");
  EXPECT_EQ(cs.paths[0].old_path, "eval/evaluate.py");
}

TEST_F(WorkspaceTest, CommitCandidateRecordsChangesWithoutMovingAnyBranch) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  ws.CreateBranch("t", base);
  ws.PointHeadAt("t");
  fs::path wt = ws.PrepareCandidate("t", 1, base);
  Write(wt / "params.json", "{\"lr\": 0.5}\n");
  Write(wt / "new.txt", "n\n");
  fs::remove(wt / "train.py");
  std::string c = ws.CommitCandidate(wt, base, "try lr 0.5");
  ASSERT_EQ(c.size(), 40u);
  EXPECT_NE(c, base);
  EXPECT_EQ(ws.ResolveBranch("t"), base);
  EXPECT_EQ(RawRef("HEAD"), base);
  EXPECT_EQ(RawRef("refs/heads/main"), base);
  EXPECT_EQ(RawRef("refs/heads/ratchet-wt/t-1"), base);
  EXPECT_EQ(ws.ReadFileAt(c, "params.json"), "{\"lr\": 0.5}\n");
  EXPECT_EQ(ws.ReadFileAt(c, "new.txt"), "n\n");
  EXPECT_THROW(ws.ReadFileAt(c, "train.py"), Error);
  EXPECT_EQ(ws.Message(c), "try lr 0.5\n");
  EXPECT_EQ(ws.DiffStat(base, c), "3 files changed, 2 insertions(+), 2 deletions(-)");
  EXPECT_NE(ws.Patch(base, c).find("+{\"lr\": 0.5}"), std::string::npos);
  // The worktree still shows the same changes: its index was not moved.
  EXPECT_EQ(ws.Changes(wt, base).paths.size(), 3u);
}

TEST_F(WorkspaceTest, IdenticalContentsGiveIdenticalTrees) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  std::string a = CommitParams(ws, base, "{\"lr\": 0.7}\n", 1);
  std::string b = CommitParams(ws, base, "{\"lr\": 0.7}\n", 2);
  std::string c = CommitParams(ws, base, "{\"lr\": 0.8}\n", 3);
  EXPECT_NE(a, b);
  EXPECT_EQ(ws.TreeOf(a), ws.TreeOf(b));
  EXPECT_NE(ws.TreeOf(a), ws.TreeOf(c));
  EXPECT_NE(ws.TreeOf(a), ws.TreeOf(base));
}

TEST_F(WorkspaceTest, RecommitKeepsTreeAndParentAndReplacesMessage) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  std::string c = CommitParams(ws, base, "{\"lr\": 0.9}\n", 1);
  std::string msg = AppendTrailers(ws.Message(c), {{"Ratchet-Status", "accepted"},
                                                   {"Ratchet-Metric", "val_bpb=1.234"}});
  std::string r = ws.Recommit(c, msg);
  EXPECT_NE(r, c);
  EXPECT_EQ(ws.TreeOf(r), ws.TreeOf(c));
  EXPECT_EQ(ws.Message(r),
            "set params 1\n\nRatchet-Status: accepted\nRatchet-Metric: val_bpb=1.234\n");
  EXPECT_EQ(ws.DiffStat(base, r), ws.DiffStat(base, c));
  // Parent check through libgit2 directly.
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_open(&repo, dir_.c_str()), 0);
  git_oid oid;
  git_oid_fromstr(&oid, r.c_str());
  git_commit* commit = nullptr;
  ASSERT_EQ(git_commit_lookup(&commit, repo, &oid), 0);
  ASSERT_EQ(git_commit_parentcount(commit), 1u);
  EXPECT_EQ(std::string(git_oid_tostr_s(git_commit_parent_id(commit, 0))), base);
  git_commit_free(commit);
  git_repository_free(repo);
}

TEST(Trailers, AreFormattedAsKeyValueLinesAndJoinAnExistingBlock) {
  EXPECT_EQ(FormatTrailers({{"A", "1"}, {"B", "x=2"}}), "A: 1\nB: x=2\n");
  EXPECT_EQ(AppendTrailers("subject\n\n", {{"A", "1"}}), "subject\n\nA: 1\n");
  EXPECT_EQ(AppendTrailers("subject\n\nbody text here\n", {{"A", "1"}}),
            "subject\n\nbody text here\n\nA: 1\n");
  EXPECT_EQ(AppendTrailers("subject\n\nRatchet-Proposer: local\n", {{"A", "1"}}),
            "subject\n\nRatchet-Proposer: local\nA: 1\n");
}

TEST_F(WorkspaceTest, CandidateRefsAreKeptPerSequenceNumber) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  std::string c = CommitParams(ws, base, "{\"lr\": 1}\n", 1);
  EXPECT_EQ(ws.CandidateRef("t", 1), "");
  ws.SetCandidateRef("t", 1, c);
  ws.SetCandidateRef("t", 2, base);
  EXPECT_EQ(ws.CandidateRef("t", 1), c);
  EXPECT_EQ(RawRef("refs/ratchet/t/1"), c);
  ws.SetCandidateRef("t", 2, c);  // force
  EXPECT_EQ(ws.CandidateRef("t", 2), c);
  EXPECT_EQ(ws.CandidateRef("other", 1), "");
  EXPECT_THROW(ws.SetCandidateRef("t", 3, "not-a-commit"), Error);
}

TEST_F(WorkspaceTest, BranchIsCreatedOnceAndResolved) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  EXPECT_EQ(ws.ResolveBranch("t"), "");
  ws.CreateBranch("t", ws.BaselineCommit());
  EXPECT_EQ(ws.ResolveBranch("t"), ws.BaselineCommit());
  EXPECT_EQ(RawRef("refs/heads/ratchet/t"), ws.BaselineCommit());
  EXPECT_THROW(ws.CreateBranch("t", ws.BaselineCommit()), Error);
  EXPECT_THROW(ws.PointHeadAt("missing"), Error);
}

TEST_F(WorkspaceTest, AdvanceBranchUpdatesTheWorkingDirWhenHeadIsOnIt) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  ws.CreateBranch("t", base);
  ws.PointHeadAt("t");
  EXPECT_EQ(HeadTarget(), "refs/heads/ratchet/t");
  Write(dir_ / ".ratchet/store.db", "state");

  fs::path wt = ws.PrepareCandidate("t", 1, base);
  Write(wt / "params.json", "{\"lr\": 0.01}\n");
  Write(wt / "added.txt", "a\n");
  fs::remove(wt / "eval/evaluate.py");
  std::string c = ws.CommitCandidate(wt, base, "better");
  ws.RemoveCandidate("t", 1);

  ws.AdvanceBranch("t", c);
  EXPECT_EQ(ws.ResolveBranch("t"), c);
  EXPECT_EQ(RawRef("HEAD"), c);
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.01}\n");
  EXPECT_EQ(ReadFile(dir_ / "added.txt"), "a\n");
  EXPECT_FALSE(fs::exists(dir_ / "eval/evaluate.py"));
  EXPECT_EQ(ReadFile(dir_ / ".ratchet/store.db"), "state");
  EXPECT_TRUE(fs::exists(dir_ / "old.log"));
}

// The loop reuses one candidate slot and keeps its repository open between
// calls, with the index only in memory: every candidate must still be
// exactly base + its edits, as from a fresh worktree.
TEST_F(WorkspaceTest, AReusedSlotCommitsWhatAFreshWorktreeWould) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  std::string base = ws.BaselineCommit();
  auto edit = [](const fs::path& wt, int round) {
    Write(wt / "params.json", "{\"lr\": 0." + std::to_string(round) + "}\n");
    Write(wt / ("new" + std::to_string(round) + ".txt"), "n\n");
    if (round % 2) fs::remove(wt / "train.py");
    if (round == 2) fs::permissions(wt / "eval/evaluate.py", fs::perms::owner_exec, fs::perm_options::add);
    Write(wt / "scratch.log", "ignored output\n");  // as a trainer would leave
  };
  for (int round = 1; round <= 4; ++round) {
    fs::path slot = ws.ResetCandidate("t", 0, base);
    EXPECT_TRUE(ws.Changes(slot, base).paths.empty()) << "round " << round;
    EXPECT_FALSE(fs::exists(slot / "scratch.log")) << "round " << round;
    edit(slot, round);
    std::string reused = ws.CommitCandidate(slot, base, "round " + std::to_string(round));

    fs::path fresh = ws.PrepareCandidate("t", 100 + round, base);
    edit(fresh, round);
    std::string expected = ws.CommitCandidate(fresh, base, "fresh");
    ws.RemoveCandidate("t", 100 + round);
    EXPECT_EQ(ws.TreeOf(reused), ws.TreeOf(expected)) << "round " << round;
    if (round == 2) base = reused;  // an accept moves the base
  }
  ws.RemoveCandidate("t", 0);
}

// A controller killed while it creates the workspace (SIGKILL at any point:
// a child process creates it and is killed at one of 10 points spread over a
// window, at first the time one whole creation took) must leave nothing that
// stops the next run from creating it, whether the directory was absent or an
// empty one the user made. A kill that comes after the child finished narrows
// the window, so 30 kills land inside a creation however fast this machine
// creates one at the moment (a fixed spread flaked under ctest -j2).
TEST_F(WorkspaceTest, CreationKilledAtAnyPointLeavesNothingInTheWay) {
  // Starts a child that creates the workspace; kills it after `delay_us`
  // (never, if negative). Returns whether it died by the signal.
  auto create_in_child = [&](int delay_us) {
    const pid_t child = fork();
    if (child == 0) {
      try {
        Workspace::OpenOrCreate(dir_, tmpl_);
      } catch (...) {
      }
      _exit(0);
    }
    if (delay_us >= 0) {
      usleep(delay_us);
      kill(child, SIGKILL);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status);
  };
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(create_in_child(-1));
  const auto whole = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count();
  double window_us = static_cast<double>(whole);
  int interrupted = 0;
  for (int i = 0; i < 300 && interrupted < 30; ++i) {
    fs::remove_all(dir_);
    if (i % 2 == 0) fs::create_directories(dir_);
    const int delay_us = static_cast<int>(window_us * (i % 10 + 0.5) / 10);
    if (create_in_child(delay_us)) {
      interrupted++;
    } else {
      window_us *= 0.9;  // it finished first: later kills come sooner
    }
    Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
    EXPECT_FALSE(ws.BaselineCommit().empty()) << "killed after " << delay_us << " us";
    EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.1}\n");
    if (HasFailure()) return;
  }
  EXPECT_EQ(interrupted, 30) << "a whole creation took " << whole << " us";
}

TEST_F(WorkspaceTest, LockFilesLeftByAKilledControllerAreCleared) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  ws.CreateBranch("t", base);
  ws.PointHeadAt("t");
  std::string c = CommitParams(ws, base, "{\"lr\": 0.5}\n", 1);
  ws.ResetCandidate("t", 0, base);
  for (const fs::path& lock : {dir_ / ".git/index.lock", dir_ / ".git/refs/heads/ratchet/t.lock",
                               dir_ / ".git/worktrees/t-0/index.lock"}) {
    Write(lock, "");
  }
  EXPECT_THROW(ws.AdvanceBranch("t", c), Error);
  ws.ClearStaleLocks();
  ws.AdvanceBranch("t", c);
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.5}\n");
  Workspace reopened = Workspace::Open(dir_);
  fs::path slot = reopened.ResetCandidate("t", 0, c);
  EXPECT_EQ(ReadFile(slot / "params.json"), "{\"lr\": 0.5}\n");
  EXPECT_FALSE(fs::exists(dir_ / ".git/worktrees/t-0/index.lock"));
  reopened.RemoveCandidate("t", 0);
}

TEST_F(WorkspaceTest, AdvanceBranchLeavesWorkingDirAloneWhenHeadIsElsewhere) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  ws.CreateBranch("t", base);
  std::string c = CommitParams(ws, base, "{\"lr\": 2}\n", 1);
  ws.AdvanceBranch("t", c);
  EXPECT_EQ(ws.ResolveBranch("t"), c);
  EXPECT_EQ(HeadTarget(), "refs/heads/main");
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 0.1}\n");
  // Switching HEAD later shows the branch's files.
  ws.PointHeadAt("t");
  EXPECT_EQ(ReadFile(dir_ / "params.json"), "{\"lr\": 2}\n");
}

TEST_F(WorkspaceTest, PrepareCandidateAgainAfterAKillStartsClean) {
  std::string base;
  {
    Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
    base = ws.BaselineCommit();
    fs::path wt = ws.PrepareCandidate("t", 7, base);
    Write(wt / "params.json", "half-written");
    Write(wt / "junk.txt", "junk");
    // Killed: no RemoveCandidate, the object just goes away.
  }
  Workspace ws = Workspace::Open(dir_);
  fs::path wt = ws.PrepareCandidate("t", 7, base);
  EXPECT_EQ(ReadFile(wt / "params.json"), "{\"lr\": 0.1}\n");
  EXPECT_FALSE(fs::exists(wt / "junk.txt"));
  EXPECT_TRUE(ws.Changes(wt, base).paths.empty());
}

TEST_F(WorkspaceTest, PrepareCandidateSurvivesAdminDataLostButDirLeftBehind) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  fs::path wt = ws.PrepareCandidate("t", 3, base);
  Write(wt / "junk.txt", "junk");
  fs::remove_all(dir_ / ".git/worktrees/t-3");
  wt = ws.PrepareCandidate("t", 3, base);
  EXPECT_FALSE(fs::exists(wt / "junk.txt"));
  EXPECT_EQ(ReadFile(wt / "train.py"), "print('train')\n");
}

TEST_F(WorkspaceTest, RemoveCandidateIsIdempotentAndCleansEverything) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  ws.RemoveCandidate("t", 1);  // never created
  fs::path wt = ws.PrepareCandidate("t", 1, base);
  ASSERT_TRUE(fs::exists(wt / "params.json"));
  ASSERT_TRUE(fs::exists(dir_ / ".git/worktrees/t-1"));
  ws.RemoveCandidate("t", 1);
  EXPECT_FALSE(fs::exists(wt));
  EXPECT_FALSE(fs::exists(dir_ / ".git/worktrees/t-1"));
  EXPECT_EQ(RawRef("refs/heads/ratchet-wt/t-1"), "");
  ws.RemoveCandidate("t", 1);
  EXPECT_FALSE(fs::exists(wt));
}

TEST_F(WorkspaceTest, PatchFromEmptyTreeShowsEveryFile) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  std::string patch = ws.Patch("", ws.BaselineCommit());
  EXPECT_NE(patch.find("+print('train')"), std::string::npos) << patch;
  EXPECT_EQ(ws.DiffStat(ws.BaselineCommit(), ws.BaselineCommit()), "");
}

}  // namespace
}  // namespace ratchet

namespace ratchet {
namespace {

// Two candidates built on the baseline: one changes params.json, the other
// train.py (or params.json too).
class MergeOntoTest : public WorkspaceTest {
 protected:
  std::string CommitFile(Workspace& ws, const std::string& base, const std::string& file,
                         const std::string& text, int64_t seq) {
    fs::path wt = ws.PrepareCandidate("t", seq, base);
    Write(wt / file, text);
    std::string c = ws.CommitCandidate(wt, base, file);
    ws.RemoveCandidate("t", seq);
    return c;
  }
};

TEST_F(MergeOntoTest, ChangesToDifferentFilesMergeIntoBoth) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  const std::string best = CommitFile(ws, base, "params.json", "{\"lr\": 0.2}\n", 1);
  const std::string stale = CommitFile(ws, base, "train.py", "print('faster')\n", 2);
  const std::string merged = ws.MergeOnto(base, ws.TreeOf(stale), best);
  ASSERT_FALSE(merged.empty());
  const std::string commit = ws.CommitTree(merged, best, "merged");
  EXPECT_EQ(ws.ReadFileAt(commit, "params.json"), "{\"lr\": 0.2}\n");
  EXPECT_EQ(ws.ReadFileAt(commit, "train.py"), "print('faster')\n");
  EXPECT_EQ(ws.ReadFileAt(commit, "eval/evaluate.py"), "print('eval')\n");
}

TEST_F(MergeOntoTest, TwoChangesToOneLineConflict) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  const std::string best = CommitFile(ws, base, "params.json", "{\"lr\": 0.2}\n", 1);
  const std::string stale = CommitFile(ws, base, "params.json", "{\"lr\": 0.3}\n", 2);
  EXPECT_EQ(ws.MergeOnto(base, ws.TreeOf(stale), best), "");
}

TEST_F(MergeOntoTest, ChangeOntoItsOwnParentIsItself) {
  Workspace ws = Workspace::OpenOrCreate(dir_, tmpl_);
  const std::string base = ws.BaselineCommit();
  const std::string stale = CommitFile(ws, base, "train.py", "print('x')\n", 2);
  EXPECT_EQ(ws.MergeOnto(base, ws.TreeOf(stale), base), ws.TreeOf(stale));
}

}  // namespace
}  // namespace ratchet

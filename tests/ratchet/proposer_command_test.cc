// The command proposer with small /bin/sh scripts as the agent, in a real
// candidate worktree, judged by the loop's path policy.
#include "ratchet/propose/proposer_command.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>

#include "base/fs.h"
#include "ratchet/git/path_policy.h"
#include "ratchet/git/workspace.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;

class CommandProposerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "command_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "template");
    std::ofstream(dir_ / "template" / "params.json") << "{\n  \"lr\": 0.003\n}\n";
    std::ofstream(dir_ / "template" / "harness.py") << "print('immutable')\n";
    std::ofstream(dir_ / "template" / "program.md")
        << "Make the loss go down. Secret word: kumquat.\n";
    workspace_.emplace(Workspace::OpenOrCreate(dir_ / "ws", dir_ / "template"));
    worktree_ = workspace_->PrepareCandidate("t", 1, workspace_->BaselineCommit());
    spec_.name = "cmd";
    spec_.mutable_globs = {"params.json"};
    spec_.proposer.kind = "command";
    history_ = {{0, "accepted", 2.5, nlohmann::json(), "baseline", ""},
                {1, "crashed", std::nullopt, nlohmann::json(), "lr 0.003 -> 9", "train exit 2"}};
  }
  void TearDown() override {
    workspace_.reset();
    fs::remove_all(dir_);
  }

  // The agent: `sh -c SCRIPT` with the prompt file as $1.
  Proposal Run(const std::string& script, double timeout = 20) {
    spec_.proposer.options = {{"kind", "command"},
                              {"argv", {"/bin/sh", "-c", script, "agent", "{prompt_file}"}},
                              {"timeout_seconds", timeout}};
    ProposalContext ctx{spec_, 2, 99, worktree_, nlohmann::json(), history_, 2.5};
    return MakeCommandProposer(spec_)->Propose(ctx);
  }
  ChangeSet Changes() { return workspace_->Changes(worktree_, workspace_->BaselineCommit()); }

  fs::path dir_, worktree_;
  std::optional<Workspace> workspace_;
  Spec spec_;
  std::vector<HistoryEntry> history_;
};

TEST_F(CommandProposerTest, AGoodEditIsTheMutationAndTheLastLineItsDescription) {
  Proposal p =
      Run("grep -q kumquat \"$1\" || exit 7\n"         // the prompt holds program.md
          "grep -q 'train exit 2' \"$1\" || exit 8\n"  // ... the history with reasons
          "grep -q '0.003' \"$1\" || exit 9\n"         // ... the current files
          "sed -i 's/0.003/0.001/' params.json\n"
          "echo thinking...\necho 'lr 0.003 -> 0.001'\necho\n");
  EXPECT_EQ(p.description, "lr 0.003 -> 0.001");
  EXPECT_NE(p.prompt.find("kumquat"), std::string::npos);
  EXPECT_NE(p.reply.find("thinking..."), std::string::npos);
  ChangeSet changes = Changes();
  ASSERT_EQ(changes.paths.size(), 1u);
  EXPECT_EQ(changes.paths[0].path, "params.json");
  EXPECT_EQ(CheckChanges(changes, spec_.mutable_globs), std::nullopt);
}

TEST_F(CommandProposerTest, AnEditOutsideTheMutablePathsIsCaughtByThePathPolicy) {
  Proposal p = Run("echo hacked > harness.py\necho 'improve the evaluator'\n");
  EXPECT_EQ(p.description, "improve the evaluator");
  std::optional<std::string> violation = CheckChanges(Changes(), spec_.mutable_globs);
  ASSERT_TRUE(violation.has_value());
  EXPECT_NE(violation->find("harness.py"), std::string::npos) << *violation;
}

TEST_F(CommandProposerTest, AnAgentPastItsDeadlineIsKilledAndIsAProposalError) {
  auto start = std::chrono::steady_clock::now();
  try {
    Run("echo started\nsleep 60\n", 0.5);
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    EXPECT_NE(e.reply().find("started"), std::string::npos);
    EXPECT_FALSE(e.prompt().empty());
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
}

TEST_F(CommandProposerTest, AnAgentThatChangesNothingLeavesAnEmptyChangeSet) {
  Proposal p = Run("echo 'nothing to do'\n");
  EXPECT_EQ(p.description, "nothing to do");
  EXPECT_TRUE(Changes().paths.empty());  // the loop records "the proposal changed nothing"
}

TEST_F(CommandProposerTest, AFailingAgentIsAProposalErrorWithItsStderr) {
  try {
    Run("echo 'rate limited' >&2\nexit 3\n");
    FAIL() << "no error";
  } catch (const ProposalError& e) {
    EXPECT_NE(std::string(e.what()).find("exit 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rate limited"), std::string::npos) << e.what();
  }
}

TEST_F(CommandProposerTest, ThePromptFileIsNotLeftInTheWorktree) {
  Run("cp \"$1\" /dev/null; echo ok\n");
  EXPECT_TRUE(Changes().paths.empty());
}

}  // namespace
}  // namespace ratchet

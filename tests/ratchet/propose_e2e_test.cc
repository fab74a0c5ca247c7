// End-to-end tests of the proposer's reach into the CLI, running the real
// `ratchet` program on the toy experiment: `propose --dry-run`,
// `run --warm-start`, and agent prompts and replies stored with their
// experiment (`show N`) with the reasons of past failures in them.
#include <gtest/gtest.h>

#include "ratchet/loop/loop.h"
#include "ratchet/store/store.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

class ProposeE2E : public ::testing::Test {
 protected:
  fs::path Workspace() const { return temp_.path() / "ws"; }

  CommandOutput Ratchet(std::vector<std::string> args) {
    return RunProgram(RatchetArgs(std::move(args)), temp_.path());
  }

  CommandOutput Run(const fs::path& spec, std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", spec.string(), "--workspace", Workspace().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Ratchet(args);
  }

  json Log(const std::string& tag) {
    CommandOutput log =
        Ratchet({"log", "--workspace", Workspace().string(), "--tag", tag, "--format", "json"});
    EXPECT_TRUE(log.result.Succeeded()) << log.err;
    return json::parse(log.out);
  }

  // Everything a dry run must leave alone: refs, worktrees, rows and events.
  std::string Snapshot() {
    std::string refs =
        RunProgram({"git", "-C", Workspace().string(), "for-each-ref"}, temp_.path()).out;
    std::string worktrees =
        RunProgram({"git", "-C", Workspace().string(), "worktree", "list"}, temp_.path()).out;
    Store store = Store::OpenReadOnly(StorePath(Workspace()));
    std::string rows;
    for (const RunRow& run : store.ListRuns()) {
      rows += run.tag + " events " + std::to_string(store.Events(run.id).size()) + "\n";
      for (const ExperimentRow& e : store.ListExperiments(run.id)) {
        rows += std::to_string(e.seq) + " " + std::string(ToString(e.status)) + " " +
                e.description + "\n";
      }
    }
    return refs + worktrees + rows;
  }

  TempDir temp_;
};

TEST_F(ProposeE2E, DryRunPrintsTheMutationAndRecordsNothing) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", json::object());
  ASSERT_TRUE(Run(spec, {"--max-experiments", "1"}).result.Succeeded());
  const std::string before = Snapshot();

  CommandOutput dry = Ratchet(
      {"propose", spec.string(), "--workspace", Workspace().string(), "--dry-run"});
  ASSERT_EQ(dry.result.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("dry run: experiment 2 of run 'toy' (proposer local"), std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("description: "), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("+++ b/params.json"), std::string::npos) << dry.out;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_TRUE(fs::is_empty(Workspace() / ".ratchet" / "worktrees"));

  // The same proposal is what the next experiment then gets.
  ASSERT_TRUE(Run(spec, {"--max-experiments", "1"}).result.Succeeded());
  std::string description = Log("toy")[2]["description"];
  EXPECT_NE(dry.out.find("description: " + description + "\n"), std::string::npos)
      << dry.out << "\nexperiment 2: " << description;
}

TEST_F(ProposeE2E, ProposeWithoutDryRunIsAOneLineErrorAndHelpWorks) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", json::object());
  CommandOutput refused = Ratchet({"propose", spec.string()});
  EXPECT_EQ(refused.result.exit_code, 1);
  EXPECT_EQ(refused.err, "ratchet: error: propose: --dry-run is required (the only mode)\n");
  EXPECT_FALSE(fs::exists(Workspace()));

  CommandOutput help = Ratchet({"propose", "--help"});
  EXPECT_EQ(help.result.exit_code, 0) << help.err;
  for (const char* option : {"--dry-run", "--workspace", "--tag", "--warm-start", "--no-prompt"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option << "\n" << help.out;
  }
  CommandOutput run_help = Ratchet({"run", "--help"});
  EXPECT_NE(run_help.out.find("--warm-start"), std::string::npos) << run_help.out;
}

TEST_F(ProposeE2E, WarmStartGivesTheProposerTheEarlierRunsHistory) {
  // tpe samples uniformly until `startup` configs are measured: a cold run's
  // first proposal is that draw, a warm one is already the model's.
  fs::path spec = WriteToySpec(
      temp_.path(), "toy.json",
      {{"proposer", {{"kind", "tpe"}, {"config", "params.json"}, {"seed", 3}, {"startup", 2}}}});
  ASSERT_TRUE(Run(spec, {"--tag", "first", "--max-experiments", "3"}).result.Succeeded());
  ASSERT_TRUE(Run(spec, {"--tag", "cold", "--max-experiments", "1"}).result.Succeeded());
  CommandOutput warm = Run(spec, {"--tag", "warm", "--max-experiments", "1", "--warm-start"});
  ASSERT_TRUE(warm.result.Succeeded()) << warm.err;

  std::string first = Log("first")[1]["description"];
  std::string cold = Log("cold")[1]["description"];
  std::string warmed = Log("warm")[1]["description"];
  EXPECT_EQ(cold, first) << "same seed, no evidence: the same uniform draw";
  EXPECT_NE(warmed, cold) << "the warm run's proposer did not see the earlier runs";
  // first: baseline + 3, cold: baseline + 1.
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  std::string events;
  for (const EventRow& event : store.Events(store.FindRun("warm")->id)) {
    events += event.message + "\n";
  }
  EXPECT_NE(events.find("warm start: 6 experiments of earlier runs of 'toy' on this hardware\n"),
            std::string::npos)
      << events;

  CommandOutput dry = Ratchet({"propose", spec.string(), "--workspace", Workspace().string(),
                               "--tag", "cold", "--dry-run", "--warm-start"});
  EXPECT_EQ(dry.result.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("2 experiments of history, 6 from earlier runs"), std::string::npos)
      << dry.out;
}

TEST_F(ProposeE2E, AgentPromptsAndRepliesAreStoredAndCarryPastFailures) {
  // The agent does nothing at experiment 1 (invalid: "the proposal changed
  // nothing"), then sets x to the experiment number.
  const std::string agent =
      "if [ {seq} = 1 ]; then echo idle; else printf '{{\"x\": {seq}, \"y\": 2.0, \"lr\": 0.1, "
      "\"depth\": 2, \"width\": 64, \"act\": \"relu\"}}\\n' > params.json; echo 'x to {seq}'; fi";
  fs::path spec = WriteToySpec(
      temp_.path(), "toy.json",
      {{"proposer", {{"kind", "command"}, {"argv", {"/bin/sh", "-c", agent}}, {"seed", 1}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "2"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  // Resumed: the history is then read back from the store.
  ASSERT_TRUE(Run(spec, {"--max-experiments", "1"}).result.Succeeded());
  json log = Log("toy");
  ASSERT_EQ(log.size(), 4u) << log.dump(2);
  EXPECT_EQ(log[1]["status"], "invalid");

  for (int seq : {1, 2, 3}) {
    CommandOutput show =
        Ratchet({"show", std::to_string(seq), "--workspace", Workspace().string()});
    ASSERT_TRUE(show.result.Succeeded()) << show.err;
    EXPECT_NE(show.out.find("--- prompt ---\n# Experiment " + std::to_string(seq) +
                            " of the ratchet \"toy\""),
              std::string::npos)
        << show.out;
    std::string reply = seq == 1 ? "idle" : "x to " + std::to_string(seq);
    EXPECT_NE(show.out.find("--- reply ---\n" + reply + "\n"), std::string::npos) << show.out;
    if (seq > 1) {
      // Experiment 1's reason is in the history table: from Finish (2) and
      // from the store on resume (3).
      EXPECT_NE(show.out.find("| 1 | invalid | - | idle (the proposal changed nothing) |"),
                std::string::npos)
          << show.out;
    }
  }
  // The store holds them; no loose files beside the logs.
  for (const auto& entry : fs::recursive_directory_iterator(Workspace() / ".ratchet" / "runs")) {
    std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find("prompt"), std::string::npos) << entry.path();
    EXPECT_EQ(name.find("reply"), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace ratchet::testing

// End-to-end: the real `ratchet` program runs ratchets on the toy experiment.
#include <signal.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/error.h"
#include "ratchet/loop/lock.h"
#include "ratchet/loop/loop.h"
#include "ratchet/store/store.h"
#include "ratchet/git/workspace.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

class E2E : public ::testing::Test {
 protected:
  fs::path Workspace() const { return temp_.path() / "ws"; }

  CommandOutput Run(const fs::path& spec, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", spec.string(), "--workspace", Workspace().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunProgram(RatchetArgs(args), temp_.path());
  }

  json Log() {
    CommandOutput log = RunProgram(
        RatchetArgs({"log", "--workspace", Workspace().string(), "--format", "json"}), temp_.path());
    EXPECT_TRUE(log.result.Succeeded()) << log.err;
    return json::parse(log.out);
  }

  // A spec whose only mutable knob is `space`, so the first proposal is known.
  fs::path SpecWithSpace(const json& space, const json& more = json::object()) {
    json changes = {{"search_space", nullptr}};
    changes.merge_patch(more);
    fs::path path = WriteToySpec(temp_.path(), "spec.json", changes);
    json spec = json::parse(ReadFile(path));
    spec["search_space"] = space;
    WriteFileAtomic(path, spec.dump(2));
    return path;
  }

  std::string BranchHead(const std::string& tag) {
    return Workspace::Open(Workspace()).ResolveBranch(tag);
  }

  TempDir temp_;
};

TEST_F(E2E, RatchetConvergesTowardTheKnownOptimum) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", {{"train", {{"argv", ToyTrain("0.05")}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "60"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  json log = Log();
  double baseline = log[0]["metric"];
  // The baseline carries the cost of its first calibration run, as candidates do.
  EXPECT_GT(log[0]["train_seconds"].get<double>(), 0.0);
  EXPECT_GT(log[0]["peak_rss_kb"].get<int64_t>(), 0);
  CommandOutput best = RunProgram(
      RatchetArgs({"best", "--workspace", Workspace().string(), "--format", "json"}), temp_.path());
  double best_metric = json::parse(best.out)["metric"];
  // The toy's optimum is 0; the baseline is far from it.
  EXPECT_LT(best_metric, 0.5 * baseline) << run.out;
  EXPECT_EQ(BranchHead("toy"), json::parse(best.out)["commit"].get<std::string>());
  // The accepted steps only ever improve.
  double previous = baseline;
  for (const json& row : log) {
    if (row["status"] != "accepted" || row["seq"] == 0) continue;
    EXPECT_LT(row["metric"].get<double>(), previous);
    previous = row["metric"];
  }
}

// A candidate is committed once, after its decision: the ref of each points
// at a commit with the stored tree, on the stored parent, whose trailers
// carry run, sequence number, status and metric.
TEST_F(E2E, EachCandidateRefPointsAtOneCommitCarryingItsOutcome) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", json::object());
  ASSERT_TRUE(Run(spec, {"--max-experiments", "4"}).result.Succeeded());
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  std::optional<RunRow> run = store.FindRun("toy");
  ASSERT_TRUE(run);
  ratchet::Workspace git = ratchet::Workspace::Open(Workspace());
  int checked = 0;
  for (const ExperimentRow& e : store.ListExperiments(run->id)) {
    if (e.seq == 0 || !e.commit) continue;
    ++checked;
    EXPECT_EQ(git.CandidateRef("toy", e.seq), *e.commit) << e.seq;
    EXPECT_EQ(git.TreeOf(*e.commit), e.tree.value_or("")) << e.seq;
    const std::string message = git.Message(*e.commit);
    EXPECT_EQ(message.rfind(e.description, 0), 0u) << message;
    for (const std::string& trailer :
         {std::string("Ratchet-Run: toy\n"), "Ratchet-Seq: " + std::to_string(e.seq) + "\n",
          "Ratchet-Status: " + std::string(ToString(e.status)) + "\n", std::string("Ratchet-Metric: ")}) {
      EXPECT_NE(message.find(trailer), std::string::npos) << trailer << " in " << message;
    }
    EXPECT_NE(git.Patch(e.parent_commit, *e.commit), "") << e.seq;
  }
  EXPECT_GE(checked, 3);
}

struct BadCandidate {
  const char* name;
  json space;
  json spec;
  const char* status;
  const char* reason;
};

class BadCandidates : public E2E, public ::testing::WithParamInterface<BadCandidate> {};

TEST_P(BadCandidates, AreRecordedAndNeverReachTheBranch) {
  const BadCandidate& bad = GetParam();
  fs::path spec = SpecWithSpace(bad.space, bad.spec);
  CommandOutput run = Run(spec, {"--max-experiments", "1"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  json log = Log();
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log[1]["status"], bad.status) << log.dump(2);
  EXPECT_NE(log[1]["reason"].get<std::string>().find(bad.reason), std::string::npos)
      << log[1]["reason"];
  EXPECT_EQ(BranchHead("toy"), log[0]["commit"].get<std::string>());
  // The workspace folder shows the best state, not the bad candidate.
  json params = json::parse(ReadFile(Workspace() / "params.json"));
  EXPECT_FALSE(params.contains(bad.space.begin().key()));
  EXPECT_TRUE(fs::is_empty(Workspace() / ".ratchet" / "worktrees"));
}

INSTANTIATE_TEST_SUITE_P(
    Toy, BadCandidates,
    ::testing::Values(
        BadCandidate{"crash", {{"crash", {{"type", "bool"}}}}, json::object(), "crashed",
                     "killed by SIGABRT"},
        BadCandidate{"hang",
                     {{"hang", {{"type", "bool"}}}},
                     {{"train", {{"timeout_factor", 1.0}, {"grace_seconds", 0.5}}}},
                     "timeout",
                     "timed out"},
        BadCandidate{"nan", {{"nan", {{"type", "bool"}}}}, json::object(), "crashed",
                     "score is nan"},
        BadCandidate{"exit", {{"exit_code", {{"type", "choice"}, {"values", {3}}}}},
                     json::object(), "crashed", "exit 3"},
        // The same exit, declared by the spec as "cannot train this config"
        // (ratchet-train's bf16 on a CPU without it): invalid, not crashed.
        BadCandidate{"declared_invalid", {{"exit_code", {{"type", "choice"}, {"values", {3}}}}},
                     {{"train", {{"invalid_exit_code", 3}}}}, "invalid", "exit 3"},
        // A trainer pinned to a lucky seed (its draw is -1.95 sd): every
        // measurement repeats it, which the t-test alone would accept.
        BadCandidate{"pinned_seed", {{"pinned_seed", {{"type", "choice"}, {"values", {122}}}}},
                     json::object(), "rejected", "ignores the seed"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(E2E, FloodingCandidateKeepsItsLogsUnderTheCap) {
  fs::path spec = SpecWithSpace({{"flood_mb", {{"type", "choice"}, {"values", {200}}}}},
                                {{"limits", {{"log_bytes", 1 << 20}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "1"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  json log = Log();
  EXPECT_NE(log[1]["status"], "crashed") << log.dump(2);
  fs::path out = Workspace() / ".ratchet" / "runs" / "toy" / "1.0" / "train.out";
  ASSERT_TRUE(fs::exists(out));
  EXPECT_LE(fs::file_size(out), (1u << 20) + 4096);
  EXPECT_NE(ReadFile(out).find("bytes elided"), std::string::npos);
}

TEST_F(E2E, CheckpointsOfCandidatesNotAcceptedAreDeletedAndLogsKept) {
  fs::path spec = SpecWithSpace(
      {{"nan", {{"type", "bool"}}}},
      {{"train", {{"argv", ShellThenToy("head -c 2000000 /dev/zero > {run_dir}/model.ckpt")}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "1"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  fs::path runs = Workspace() / ".ratchet" / "runs" / "toy";
  EXPECT_TRUE(fs::exists(runs / "0.0" / "model.ckpt")) << "the accepted baseline keeps its own";
  EXPECT_FALSE(fs::exists(runs / "1.0" / "model.ckpt"));
  EXPECT_TRUE(fs::exists(runs / "1.0" / "train.out"));
  EXPECT_TRUE(fs::exists(runs / "1.0" / "result.json")) << "small files stay";
}

// The workspace on a small tmpfs; a candidate whose training fills the disk
// is recorded as crashed, its output freed, and the run goes on.
TEST_F(E2E, CandidateThatFillsTheDiskIsRecordedAndTheRunGoesOn) {
  fs::path small = temp_.path() / "small-disk";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=8m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  fs::path spec = SpecWithSpace(
      {{"fill_disk", {{"type", "bool"}}}},
      {{"train", {{"argv", ShellThenToy("if grep -q '\"fill_disk\": true' {workspace}/params.json; "
                                        "then head -c 64000000 /dev/zero > {run_dir}/fill; fi")}}}});
  std::vector<std::string> args = {"run", spec.string(), "--workspace", (small / "ws").string(),
                                   "--max-experiments", "3"};
  CommandOutput run = RunProgram(RatchetArgs(args), temp_.path());
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  CommandOutput log = RunProgram(
      RatchetArgs({"log", "--workspace", (small / "ws").string(), "--format", "json"}),
      temp_.path());
  json rows = json::parse(log.out);
  ASSERT_GE(rows.size(), 4u) << rows.dump(2);
  EXPECT_EQ(rows[1]["status"], "crashed");
  EXPECT_NE(rows[1]["reason"].get<std::string>().find("No space left"), std::string::npos)
      << rows[1]["reason"];
  EXPECT_LT(fs::space(small).available, 8u << 20);
  EXPECT_GT(fs::space(small).available, 4u << 20) << "the filler was not freed";
}

TEST_F(E2E, DuplicateCandidatesCostNoBudget) {
  fs::path spec =
      SpecWithSpace({{"act", {{"type", "choice"}, {"values", {"relu", "gelu"}}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "2"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  json log = Log();
  int measured = 0, duplicates = 0;
  for (const json& row : log) {
    if (row["seq"] == 0) continue;
    if (row["status"] == "duplicate") {
      ++duplicates;
      EXPECT_NE(row["reason"].get<std::string>().find("same files as experiment"),
                std::string::npos);
      EXPECT_EQ(row["measurements"], 0);
    } else {
      ++measured;
    }
  }
  // Only two trees exist (relu, gelu): one candidate is measured, the rest
  // repeat an evaluated tree, and the run stops instead of spinning.
  EXPECT_EQ(measured, 1);
  EXPECT_GT(duplicates, 0);
  EXPECT_NE(run.out.find("repeated evaluated candidates"), std::string::npos) << run.out;
}

TEST_F(E2E, SecondControllerOnTheSameWorkspaceIsRefused) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", json::object());
  ASSERT_TRUE(Run(spec, {"--max-experiments", "1"}).result.Succeeded());
  WorkspaceLock held(RatchetDir(Workspace()));
  CommandOutput second = Run(spec, {"--max-experiments", "1"});
  EXPECT_EQ(second.result.exit_code, 1);
  EXPECT_NE(second.err.find("in use by another ratchet controller (pid " +
                            std::to_string(::getpid()) + ")"),
            std::string::npos)
      << second.err;
}

TEST_F(E2E, MalformedSpecIsAOneLineErrorNamingTheFile) {
  fs::path spec = temp_.path() / "broken.json";
  WriteFileAtomic(spec, "{\n  \"name\": \"toy\",\n  \"budget\": \n}\n");
  CommandOutput run = Run(spec);
  EXPECT_EQ(run.result.exit_code, 1);
  EXPECT_NE(run.err.find(spec.string() + ":4:1"), std::string::npos) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_FALSE(fs::exists(Workspace()));
}

TEST_F(E2E, EvaluatorChangedDuringTheRunStopsItNamingTheFile) {
  fs::path harness_file = temp_.path() / "harness.txt";
  WriteFileAtomic(harness_file, "v1");
  std::vector<std::string> train = ShellThenToy("echo tampered >> " + harness_file.string());
  fs::path spec = WriteToySpec(temp_.path(), "toy.json",
                               {{"train", {{"argv", train}}},
                                {"immutable", {"{bin_dir}/ratchet-toy", harness_file.string()}}});
  // Uncontained, so that the write lands (the sandbox keeps it in a private
  // /tmp: sandbox_e2e_test); the pins are the second line of defence.
  CommandOutput run = Run(spec, {"--max-experiments", "1", "--no-sandbox"});
  EXPECT_EQ(run.result.exit_code, 1);
  EXPECT_NE(run.err.find("evaluator file changed since run start: " + harness_file.string()),
            std::string::npos)
      << run.err;
}

TEST_F(E2E, TrainCommandSeesOnlyTheTrainData) {
  fs::path data = temp_.path() / "data";
  fs::create_directories(data);
  WriteFileAtomic(data / "train.bin", "train bytes");
  WriteFileAtomic(data / "val.bin", "held-out bytes");
  std::vector<std::string> train = ShellThenToy("ls -a {train_data} > {run_dir}/seen");
  fs::path spec = WriteToySpec(
      temp_.path(), "toy.json",
      {{"train", {{"argv", train}}},
       {"data", {{"dir", data.string()}, {"train", {"train.bin"}}, {"heldout", {"val.bin"}}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "1"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  std::string seen = ReadFile(Workspace() / ".ratchet" / "runs" / "toy" / "0.0" / "seen");
  EXPECT_NE(seen.find("train.bin"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("val.bin"), std::string::npos) << seen;
}

// Waits until the store shows experiment `seq` in `phase_prefix`.
void WaitForPhase(const fs::path& workspace, int64_t seq, const std::string& phase_prefix) {
  for (int i = 0; i < 2000; ++i) {
    try {
      Store store = Store::OpenReadOnly(StorePath(workspace));
      if (auto run = store.FindRun("toy")) {
        auto experiment = store.GetExperiment(run->id, seq);
        if (experiment && experiment->phase.rfind(phase_prefix, 0) == 0) return;
      }
    } catch (const Error&) {
      // Not created yet, or still being created by the controller.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "experiment " << seq << " never reached phase " << phase_prefix;
}

TEST_F(E2E, FirstInterruptFinishesTheCurrentExperimentThenStops) {
  fs::path spec =
      WriteToySpec(temp_.path(), "toy.json", {{"train", {{"argv", ShellThenToy("sleep 0.5")}}}});
  BackgroundRun run(RatchetArgs({"run", spec.string(), "--workspace", Workspace().string()}),
                 temp_.path());
  WaitForPhase(Workspace(), 1, "measure train");
  ::kill(run.pid(), SIGINT);
  RunResult result = run.Wait();
  EXPECT_TRUE(result.Succeeded()) << result.Describe();
  json log = Log();
  ASSERT_EQ(log.size(), 2u) << log.dump(2);
  EXPECT_NE(log[1]["status"], "interrupted");
  EXPECT_NE(log[1]["status"], "running");
}

TEST_F(E2E, SecondInterruptKillsTheCurrentExperimentAndRecordsIt) {
  fs::path spec = SpecWithSpace({{"hang", {{"type", "bool"}}}});
  BackgroundRun run(RatchetArgs({"run", spec.string(), "--workspace", Workspace().string()}),
                 temp_.path());
  WaitForPhase(Workspace(), 1, "measure train");
  ::kill(run.pid(), SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(run.pid(), SIGINT);
  RunResult result = run.Wait();
  EXPECT_EQ(result.exit_code, 130) << result.Describe();
  json log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1]["status"], "interrupted");
  EXPECT_TRUE(fs::is_empty(Workspace() / ".ratchet" / "worktrees"));
}

}  // namespace
}  // namespace ratchet::testing

// End-to-end: `ratchet run --parallel K` on the toy experiment and on a
// scripted one whose race is known: sound branches and histories, stale
// winners carried onto the new best, resume with K in flight.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "base/error.h"
#include "ratchet/git/workspace.h"
#include "ratchet/loop/loop.h"
#include "ratchet/store/store.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

class ParallelE2E : public ::testing::Test {
 protected:
  fs::path Workspace() const { return temp_.path() / "ws"; }

  CommandOutput Run(const fs::path& spec, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", spec.string(), "--workspace", Workspace().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunProgram(RatchetArgs(args), temp_.path());
  }

  std::vector<std::string> RunArgs(const fs::path& spec) const {
    return RatchetArgs({"run", spec.string(), "--workspace", Workspace().string(), "--parallel", "2"});
  }

  Store OpenStore() const { return Store::OpenReadOnly(StorePath(Workspace())); }

  // The scripted experiment: files a.txt and b.txt hold numbers, the score is
  // their sum (maximized, no noise). The agent (a shell script) makes
  // experiment 1 set a.txt to 1 at once, and experiment 2 set `second_file`
  // to 2 and train slowly, so 2 finishes after 1 was accepted: its parent is
  // stale when it wins.
  fs::path RaceSpec(const std::string& second_file) {
    fs::path tmpl = temp_.path() / "race";
    fs::create_directories(tmpl);
    WriteFileAtomic(tmpl / "a.txt", "0\n");
    WriteFileAtomic(tmpl / "b.txt", "0\n");
    WriteFileAtomic(tmpl / "slow.txt", "0\n");
    const std::string agent =
        "case \"$0\" in 1) echo 1 > a.txt; echo a is 1;; 2) echo 2 > " + second_file +
        "; echo 1 > slow.txt; echo " + second_file + " is 2;; *) echo \"$0\" > c$0.txt; echo c$0;; esac";
    const std::string train =
        "if [ \"$(cat slow.txt)\" = 1 ]; then sleep 1.5; fi; "
        "echo $(( $(cat a.txt) + $(cat b.txt) )) > \"$0\"/sum";
    json spec = {
        {"name", "race"},
        {"template", tmpl.string()},
        {"mutable", {"*.txt"}},
        {"budget", {{"kind", "time"}, {"seconds", 1}}},
        {"train", {{"argv", {"/bin/sh", "-c", train, "{run_dir}"}}, {"timeout_seconds", 30}}},
        {"evaluate",
         {{"argv", {"/bin/sh", "-c", "echo \"{{\\\"score\\\": $(cat \"$0\"/sum)}}\"",
                    "{run_dir}"}}}},
        {"metric", {{"name", "score"}, {"goal", "maximize"}}},
        {"acceptance", {{"policy", "strict"}, {"calibration", 1}}},
        {"proposer", {{"kind", "command"}, {"argv", {"/bin/sh", "-c", agent, "{seq}"}}}},
        {"limits", {{"threads", 2}}},
        {"sandbox", {{"enabled", false}}},
    };
    fs::path path = temp_.path() / "race.json";
    WriteFileAtomic(path, spec.dump(2));
    return path;
  }

  TempDir temp_;
};

// Every accepted experiment was built on the one accepted before it, the
// branch holds the last, and the metric only improves along the chain.
void ExpectSoundChain(Store& store, const RunRow& run, const std::string& branch_head,
                      bool minimize) {
  std::vector<ExperimentRow> experiments = store.ListExperiments(run.id);
  std::string best = run.baseline_commit;
  std::optional<double> best_metric;
  for (const ExperimentRow& e : experiments) {
    if (e.status != ExperimentStatus::kAccepted) continue;
    if (e.seq > 0) {
      EXPECT_EQ(e.parent_commit, best) << "experiment " << e.seq << " accepted on a stale parent";
      ASSERT_TRUE(e.metric && best_metric);
      EXPECT_TRUE(minimize ? *e.metric < *best_metric : *e.metric > *best_metric) << e.seq;
    }
    best = *e.commit;
    best_metric = e.metric;
  }
  EXPECT_EQ(branch_head, best);
  EXPECT_EQ(run.best_commit.value_or(""), best);
}

TEST_F(ParallelE2E, TwoWorkersRunAtOnceAndKeepTheHistorySound) {
  fs::path spec = WriteToySpec(temp_.path(), "toy.json",
                               {{"train", {{"argv", ShellThenToy("sleep 0.3")}}},
                                {"acceptance", {{"policy", "threshold"}, {"calibration", 2}}}});
  CommandOutput run = Run(spec, {"--max-experiments", "10", "--parallel", "2"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;

  Store store = OpenStore();
  RunRow row = *store.FindRun("toy");
  std::vector<ExperimentRow> experiments = store.ListExperiments(row.id);
  int counted = 0;
  std::vector<MeasurementRow> measurements;
  for (const ExperimentRow& e : experiments) {
    EXPECT_NE(e.status, ExperimentStatus::kRunning) << e.seq;
    EXPECT_NE(e.status, ExperimentStatus::kInterrupted) << e.seq << ": " << e.reason.value_or("");
    if (e.seq > 0 && e.status != ExperimentStatus::kDuplicate) ++counted;
    for (const MeasurementRow& m : store.ListMeasurements(e.id)) measurements.push_back(m);
  }
  // Ten started by this invocation, plus any carried winners measured again.
  EXPECT_GE(counted, 10);
  // Where and when each measurement ran is recorded.
  const std::string hardware = *measurements.front().hardware;
  for (const MeasurementRow& m : measurements) {
    ASSERT_TRUE(m.host && m.started_at && m.ended_at && m.hardware);
    EXPECT_FALSE(m.host->empty());
    EXPECT_LE(*m.started_at, *m.ended_at);
    EXPECT_EQ(*m.hardware, hardware);
    EXPECT_FALSE(m.job_id.has_value());  // local children are no jobs
  }
  // Two measurements overlapped in time: the workers really ran at once.
  int overlaps = 0;
  for (size_t i = 0; i < measurements.size(); ++i) {
    for (size_t j = i + 1; j < measurements.size(); ++j) {
      if (*measurements[i].started_at < *measurements[j].ended_at &&
          *measurements[j].started_at < *measurements[i].ended_at) {
        ++overlaps;
      }
    }
  }
  EXPECT_GE(overlaps, 3) << "measurements never overlapped";
  ExpectSoundChain(store, row, Workspace::Open(Workspace()).ResolveBranch("toy"), true);
  // Two worktree slots, both removed at the end.
  EXPECT_FALSE(fs::exists(Workspace() / ".ratchet" / "worktrees" / "toy-0"));
  EXPECT_FALSE(fs::exists(Workspace() / ".ratchet" / "worktrees" / "toy-1"));
}

TEST_F(ParallelE2E, StaleWinnerIsMergedOntoTheNewBestAndMeasuredAgain) {
  CommandOutput run = Run(RaceSpec("b.txt"), {"--max-experiments", "2", "--parallel", "2"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  Store store = OpenStore();
  RunRow row = *store.FindRun("race");
  ExperimentRow first = *store.GetExperiment(row.id, 1);
  ExperimentRow second = *store.GetExperiment(row.id, 2);
  ASSERT_TRUE(store.GetExperiment(row.id, 3)) << run.out;
  ExperimentRow carried = *store.GetExperiment(row.id, 3);

  EXPECT_EQ(first.status, ExperimentStatus::kAccepted) << first.reason.value_or("");
  EXPECT_EQ(second.status, ExperimentStatus::kRejected);
  EXPECT_EQ(*second.metric, 2);
  EXPECT_NE(second.reason->find("its parent is no longer the best (experiment 1 is)"),
            std::string::npos)
      << *second.reason;
  EXPECT_NE(second.reason->find("measured again as a new experiment"), std::string::npos)
      << *second.reason;
  // What the search proposers' plateau counter reads as progress.
  EXPECT_TRUE(IsCarriedReason(*second.reason));
  EXPECT_FALSE(IsCarriedReason(first.reason.value_or("")));

  EXPECT_EQ(carried.status, ExperimentStatus::kAccepted) << carried.reason.value_or("");
  EXPECT_EQ(carried.description, "b.txt is 2 (carried from 2 onto 1)");
  EXPECT_EQ(carried.parent_commit, *first.commit);
  EXPECT_EQ(*carried.metric, 3);  // both changes: 1 + 2
  ExpectSoundChain(store, row, Workspace::Open(Workspace()).ResolveBranch("race"), false);
  // The workspace shows the merged best.
  EXPECT_EQ(ReadFile(Workspace() / "a.txt"), "1\n");
  EXPECT_EQ(ReadFile(Workspace() / "b.txt"), "2\n");
}

TEST_F(ParallelE2E, StaleWinnerWhoseChangeConflictsIsDropped) {
  CommandOutput run = Run(RaceSpec("a.txt"), {"--max-experiments", "2", "--parallel", "2"});
  ASSERT_TRUE(run.result.Succeeded()) << run.err;
  Store store = OpenStore();
  RunRow row = *store.FindRun("race");
  ExperimentRow second = *store.GetExperiment(row.id, 2);
  EXPECT_EQ(second.status, ExperimentStatus::kRejected);
  EXPECT_NE(second.reason->find("its change conflicts with experiment 1's: dropped"),
            std::string::npos)
      << *second.reason;
  EXPECT_FALSE(store.GetExperiment(row.id, 3).has_value());
  EXPECT_EQ(ReadFile(Workspace() / "a.txt"), "1\n");
}

// Waits until `count` experiments are training at once.
void WaitForTraining(const fs::path& workspace, const std::string& tag, int count) {
  for (int i = 0; i < 3000; ++i) {
    try {
      Store store = Store::OpenReadOnly(StorePath(workspace));
      if (auto run = store.FindRun(tag)) {
        int training = 0;
        for (const ExperimentRow& e : store.UnfinishedExperiments(run->id)) {
          if (e.seq > 0 && e.phase.find("train") != std::string::npos && e.pgid) ++training;
        }
        if (training >= count) return;
      }
    } catch (const Error&) {
      // Not created yet.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << count << " experiments never trained at once";
}

bool ProcessGroupAlive(int64_t pgid) { return ::kill(-static_cast<pid_t>(pgid), 0) == 0; }

TEST_F(ParallelE2E, KilledWithTwoInFlightResumesByMeasuringBothAgain) {
  fs::path spec =
      WriteToySpec(temp_.path(), "toy.json", {{"train", {{"argv", ShellThenToy("sleep 3")}}},
                                              {"acceptance", {{"calibration", 2}}}});
  BackgroundRun controller(RunArgs(spec), temp_.path());
  WaitForTraining(Workspace(), "toy", 2);
  std::vector<int64_t> groups;
  {
    Store store = OpenStore();
    for (const ExperimentRow& e : store.UnfinishedExperiments(store.FindRun("toy")->id)) {
      if (e.pgid) groups.push_back(*e.pgid);
    }
  }
  ::kill(controller.pid(), SIGKILL);
  controller.Wait();

  CommandOutput resumed = Run(spec, {"--max-experiments", "2", "--parallel", "2"});
  ASSERT_TRUE(resumed.result.Succeeded()) << resumed.err;
  for (int64_t group : groups) EXPECT_FALSE(ProcessGroupAlive(group)) << "group " << group;

  Store store = OpenStore();
  RunRow row = *store.FindRun("toy");
  std::vector<ExperimentRow> experiments = store.ListExperiments(row.id);
  std::vector<ExperimentRow> interrupted, reruns;
  for (const ExperimentRow& e : experiments) {
    EXPECT_TRUE(e.status != ExperimentStatus::kRunning && e.status != ExperimentStatus::kProposed &&
                e.status != ExperimentStatus::kEvaluating)
        << e.seq;
    if (e.status == ExperimentStatus::kInterrupted) interrupted.push_back(e);
    if (e.description.find("(re-run of ") != std::string::npos) reruns.push_back(e);
  }
  ASSERT_EQ(interrupted.size(), 2u);
  ASSERT_EQ(reruns.size(), 2u);
  // Each interrupted candidate measured again, once, with its own files.
  for (const ExperimentRow& killed : interrupted) {
    const std::string mark = "(re-run of " + std::to_string(killed.seq) + ")";
    auto rerun = std::find_if(reruns.begin(), reruns.end(), [&](const ExperimentRow& e) {
      return e.description.find(mark) != std::string::npos;
    });
    ASSERT_NE(rerun, reruns.end()) << mark;
    EXPECT_EQ(*rerun->tree, *killed.tree);
    EXPECT_GE(rerun->n_measurements, 1);
  }
  ExpectSoundChain(store, row, Workspace::Open(Workspace()).ResolveBranch("toy"), true);
}

TEST_F(ParallelE2E, FirstInterruptFinishesBothExperimentsInFlightThenStops) {
  fs::path spec =
      WriteToySpec(temp_.path(), "toy.json", {{"train", {{"argv", ShellThenToy("sleep 1")}}},
                                              {"acceptance", {{"calibration", 2}}}});
  BackgroundRun controller(RunArgs(spec), temp_.path());
  WaitForTraining(Workspace(), "toy", 2);
  ::kill(controller.pid(), SIGINT);
  RunResult result = controller.Wait();
  EXPECT_TRUE(result.Succeeded()) << result.Describe();

  Store store = OpenStore();
  RunRow row = *store.FindRun("toy");
  EXPECT_EQ(row.state, RunState::kStopped);
  int candidates = 0;
  for (const ExperimentRow& e : store.ListExperiments(row.id)) {
    if (e.seq == 0) continue;
    ++candidates;
    EXPECT_NE(e.status, ExperimentStatus::kInterrupted) << e.seq;
    EXPECT_GE(e.n_measurements, 1) << e.seq;
  }
  EXPECT_EQ(candidates, 2);  // the two in flight, finished; none started after
}

}  // namespace
}  // namespace ratchet::testing

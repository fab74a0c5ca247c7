// Fault injection: SIGKILL the controller at random moments, resume, and
// check the invariants after every resume: no finished experiment is lost or
// changed, nothing is left unfinished, the branch head is the best accepted
// commit, and every candidate ref matches the store.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "ratchet/loop/loop.h"
#include "ratchet/store/store.h"
#include "ratchet/git/workspace.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

struct Finished {
  std::string status;
  std::optional<double> metric;
  std::optional<std::string> commit;
  bool operator==(const Finished&) const = default;
};

std::map<int64_t, Finished> FinishedExperiments(const fs::path& workspace) {
  std::map<int64_t, Finished> finished;
  if (!fs::exists(StorePath(workspace))) return finished;
  Store store = Store::OpenReadOnly(StorePath(workspace));
  auto run = store.FindRun("toy");
  if (!run) return finished;
  for (const ExperimentRow& e : store.ListExperiments(run->id)) {
    if (IsUnfinished(e.status)) continue;
    finished[e.seq] = {std::string(ToString(e.status)), e.metric, e.commit};
  }
  return finished;
}

// The phases of whatever the kill interrupted.
std::vector<std::string> UnfinishedPhases(const fs::path& workspace) {
  std::vector<std::string> phases;
  if (!fs::exists(StorePath(workspace))) return phases;
  Store store = Store::OpenReadOnly(StorePath(workspace));
  if (auto run = store.FindRun("toy")) {
    for (const ExperimentRow& e : store.UnfinishedExperiments(run->id)) {
      phases.push_back(e.phase.substr(0, e.phase.find(' ')) +
                       (e.phase.find("evaluate") != std::string::npos ? " evaluate" : ""));
    }
  }
  return phases;
}

void ExpectConsistentAfterResume(const fs::path& workspace) {
  Store store = Store::OpenReadOnly(StorePath(workspace));
  auto run = store.FindRun("toy");
  ASSERT_TRUE(run);
  EXPECT_TRUE(store.UnfinishedExperiments(run->id).empty());
  std::vector<ExperimentRow> experiments = store.ListExperiments(run->id);
  for (size_t i = 0; i < experiments.size(); ++i) {
    EXPECT_EQ(experiments[i].seq, static_cast<int64_t>(i)) << "sequence numbers have a gap";
  }
  auto best = store.BestAccepted(run->id);
  ASSERT_TRUE(best && best->commit);
  Workspace git = Workspace::Open(workspace);
  EXPECT_EQ(git.ResolveBranch("toy"), *best->commit) << "branch head is not the best accepted";
  EXPECT_EQ(run->best_commit.value_or(""), *best->commit);
  for (const ExperimentRow& e : experiments) {
    if (e.commit) EXPECT_EQ(git.CandidateRef("toy", e.seq), *e.commit) << "ref of " << e.seq;
  }
  fs::path worktrees = RatchetDir(workspace) / "worktrees";
  EXPECT_TRUE(!fs::exists(worktrees) || fs::is_empty(worktrees));
}

// Kills the controller (running `parallel` candidates at once) at random
// moments, resuming each time; nothing recorded may change or be lost.
void KillAndResumeRepeatedly(int parallel) {
  TempDir temp;
  fs::path workspace = temp.path() / "ws";
  fs::path spec = WriteToySpec(
      temp.path(), "toy.json",
      {{"train",
        {{"argv",
          {"{bin_dir}/ratchet-toy", "train", "--params", "{workspace}/params.json", "--seed",
           "{seed}", "--out", "{run_dir}/result.json", "--noise", "0.3", "--work-ms", "30"}}}}});
  std::vector<std::string> run_args = RatchetArgs(
      {"run", spec.string(), "--workspace", workspace.string(), "--parallel", std::to_string(parallel)});
  std::vector<std::string> resume_args = run_args;
  resume_args.insert(resume_args.end(), {"--max-experiments", "1"});

  std::mt19937_64 rng(20261122);
  std::uniform_int_distribution<int> delay_ms(0, 600);
  std::map<int64_t, Finished> seen;
  std::multiset<std::string> killed_phases;
  constexpr int kKills = 36;
  PosixProcessRunner runner;
  for (int kill = 0; kill < kKills; ++kill) {
    RunRequest request;
    request.argv = run_args;
    request.stdout_path = temp.path() / "run.out";
    request.stderr_path = temp.path() / "run.err";
    std::atomic<pid_t> pid{0};
    request.on_start = [&](pid_t pgid) { pid = pgid; };
    int delay = delay_ms(rng);
    // The runner's own abort sends SIGTERM first; the controller must die by
    // SIGKILL here, so a watcher thread sends it.
    std::atomic<bool> returned{false};  // a controller that never started must not hang us
    std::thread killer([&] {
      while (pid.load() == 0 && !returned.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (pid.load() == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      ::kill(pid.load(), SIGKILL);
    });
    RunResult result = runner.Run(request);
    returned = true;
    killer.join();
    ASSERT_TRUE(result.outcome == RunResult::Outcome::kSignaled ||
                result.outcome == RunResult::Outcome::kExited)
        << result.Describe();
    for (const std::string& phase : UnfinishedPhases(workspace)) killed_phases.insert(phase);

    // Resume: one experiment, to completion, which reconciles first.
    CommandOutput resumed = RunProgram(resume_args, temp.path());
    ASSERT_TRUE(resumed.result.Succeeded()) << "kill " << kill << ": " << resumed.err;
    ExpectConsistentAfterResume(workspace);
    std::map<int64_t, Finished> now = FinishedExperiments(workspace);
    for (const auto& [seq, before] : seen) {
      ASSERT_TRUE(now.count(seq)) << "finished experiment " << seq << " lost after kill " << kill;
      EXPECT_EQ(now[seq], before) << "experiment " << seq << " changed after kill " << kill;
    }
    seen = now;
    if (::testing::Test::HasFailure()) return;
  }
  std::set<std::string> distinct(killed_phases.begin(), killed_phases.end());
  std::string phases;
  for (const std::string& phase : distinct) {
    phases += phase + " x" + std::to_string(killed_phases.count(phase)) + ", ";
  }
  std::cout << "kills interrupted: " << phases << "experiments: " << seen.size() << "\n";
  EXPECT_GE(distinct.size(), 3u) << phases;
  EXPECT_GE(seen.size(), static_cast<size_t>(kKills));
}

TEST(FaultInjection, KilledControllerLosesNothingAndResumes) { KillAndResumeRepeatedly(1); }

TEST(FaultInjection, KilledControllerWithTwoInFlightLosesNothingAndResumes) {
  KillAndResumeRepeatedly(2);
}

}  // namespace
}  // namespace ratchet::testing

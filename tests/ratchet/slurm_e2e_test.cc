// End-to-end on the real single-node Slurm (scripts/local-slurm): the toy
// ratchet with `--backend slurm --parallel 2`, every train and evaluate a
// job; and a controller killed with jobs in flight.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "ratchet/git/workspace.h"
#include "ratchet/loop/loop.h"
#include "ratchet/runner/captured_command.h"
#include "ratchet/store/hardware.h"
#include "ratchet/store/store.h"
#include "tests/ratchet/e2e_util.h"
#include "tests/ratchet/local_slurm.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

class SlurmE2E : public ::testing::Test {
 protected:
  void SetUp() override { RATCHET_REQUIRE_LOCAL_SLURM(); }

  fs::path Workspace() const { return temp_.path() / "ws"; }

  fs::path Spec(const std::string& sleep, const std::string& submit = "sbatch") {
    return WriteToySpec(
        temp_.path(), "toy.json",
        {{"train", {{"argv", ShellThenToy("sleep " + sleep)}}},
         {"acceptance", {{"calibration", 2}}},
         {"backend", {{"kind", "slurm"}, {"slurm", {{"partition", "ratchet"}, {"submit", submit}}}}}});
  }

  std::vector<std::string> RunArgs(const fs::path& spec, std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", spec.string(), "--workspace", Workspace().string(),
                                     "--parallel", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RatchetArgs(args);
  }

  TempDir temp_;
};

std::string JobState(const std::string& job_id) {
  ratchet::CommandOutput out = RunCaptured({"scontrol", "show", "job", "-o", job_id});
  const size_t at = out.output.find("JobState=");
  if (at == std::string::npos) return "";
  return out.output.substr(at + 9, out.output.find(' ', at) - at - 9);
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// sbatch and srun start the same jobs.
class SlurmSubmitE2E : public SlurmE2E, public ::testing::WithParamInterface<std::string> {};

TEST_P(SlurmSubmitE2E, ParallelRunMeasuresEveryCandidateAsSlurmJobs) {
  CommandOutput run =
      RunProgram(RunArgs(Spec("0.2", GetParam()), {"--max-experiments", "4"}), temp_.path());
  ASSERT_TRUE(run.result.Succeeded()) << run.err;

  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  RunRow row = *store.FindRun("toy");
  const std::string here = DetectHardware().Fingerprint();
  std::set<std::string> jobs;
  int measurements = 0;
  std::string best = row.baseline_commit;
  for (const ExperimentRow& e : store.ListExperiments(row.id)) {
    EXPECT_NE(e.status, ExperimentStatus::kInterrupted) << e.seq << " " << e.reason.value_or("");
    EXPECT_NE(e.status, ExperimentStatus::kCrashed) << e.seq << " " << e.reason.value_or("");
    EXPECT_FALSE(e.job_id.has_value()) << "experiment " << e.seq << " still names a job";
    if (e.status == ExperimentStatus::kAccepted && e.seq > 0) {
      EXPECT_EQ(e.parent_commit, best) << e.seq;
      best = *e.commit;
    }
    for (const MeasurementRow& m : store.ListMeasurements(e.id)) {
      ++measurements;
      ASSERT_TRUE(m.job_id) << "measurement of " << e.seq << " names no job";
      std::vector<std::string> ids = Words(*m.job_id);
      ASSERT_EQ(ids.size(), 1u) << *m.job_id;  // train and evaluate, one job
      // Both steps ran on the node, timed and measured there.
      EXPECT_GT(m.train_seconds.value_or(0), 0) << e.seq;
      EXPECT_GT(m.eval_seconds.value_or(0), 0) << e.seq;
      EXPECT_GT(m.peak_rss_kb.value_or(0), 0) << e.seq;
      for (const std::string& id : ids) {
        EXPECT_TRUE(jobs.insert(id).second) << "job " << id << " counted twice";
        EXPECT_EQ(JobState(id), "COMPLETED") << "job " << id;
      }
      ASSERT_TRUE(m.host && m.hardware && m.started_at && m.ended_at);
      EXPECT_FALSE(m.host->empty());
      EXPECT_EQ(*m.hardware, here);  // the node is this machine
    }
  }
  EXPECT_GE(measurements, 6);  // 2 calibration + 4 candidates
  EXPECT_EQ(Workspace::Open(Workspace()).ResolveBranch("toy"), best);
  EXPECT_EQ(row.best_commit.value_or(""), best);
  // `show` says where each measurement ran.
  CommandOutput show =
      RunProgram(RatchetArgs({"show", "1", "--workspace", Workspace().string()}), temp_.path());
  EXPECT_NE(show.out.find("(job "), std::string::npos) << show.out;
  ratchet::CommandOutput queue = RunCaptured({"squeue", "-h", "-n", "ratchet-toy"});
  EXPECT_EQ(queue.output, "") << "jobs left in the queue";
}

INSTANTIATE_TEST_SUITE_P(Submit, SlurmSubmitE2E, ::testing::Values("sbatch", "srun"));

// The jobs of the candidates in training, once `count` of them run.
std::vector<std::string> WaitForJobs(const fs::path& workspace, size_t count) {
  for (int i = 0; i < 6000; ++i) {
    try {
      Store store = Store::OpenReadOnly(StorePath(workspace));
      if (auto run = store.FindRun("toy")) {
        std::vector<std::string> jobs;
        for (const ExperimentRow& e : store.UnfinishedExperiments(run->id)) {
          if (e.seq > 0 && e.job_id && JobState(*e.job_id) == "RUNNING") jobs.push_back(*e.job_id);
        }
        if (jobs.size() >= count) return jobs;
      }
    } catch (const Error&) {
      // Not created yet.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << count << " candidates never ran as jobs at once";
  return {};
}

TEST_F(SlurmE2E, KilledControllerLeavesNoJobAndResumeMeasuresAgain) {
  const fs::path spec = Spec("4");
  RunRequest request;
  request.argv = RunArgs(spec, {});
  request.stdout_path = temp_.path() / "bg.out";
  request.stderr_path = temp_.path() / "bg.err";
  request.timeout_seconds = 180;
  std::atomic<pid_t> pid{0};
  request.on_start = [&](pid_t pgid) { pid = pgid; };
  PosixProcessRunner runner;
  std::thread controller([&] { runner.Run(request); });
  while (pid.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::vector<std::string> left = WaitForJobs(Workspace(), 2);
  ::kill(pid.load(), SIGKILL);
  controller.join();
  ASSERT_EQ(left.size(), 2u);
  // The jobs outlive the controller...
  for (const std::string& job : left) EXPECT_EQ(JobState(job), "RUNNING") << job;

  CommandOutput resumed = RunProgram(RunArgs(spec, {"--max-experiments", "2"}), temp_.path());
  ASSERT_TRUE(resumed.result.Succeeded()) << resumed.err;
  // ...until the resumed one cancels them, and never counts them.
  for (const std::string& job : left) EXPECT_EQ(JobState(job), "CANCELLED") << job;
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  RunRow row = *store.FindRun("toy");
  int interrupted = 0, reruns = 0;
  for (const ExperimentRow& e : store.ListExperiments(row.id)) {
    if (e.status == ExperimentStatus::kInterrupted) ++interrupted;
    if (e.description.find("(re-run of ") != std::string::npos) {
      ++reruns;
      EXPECT_GE(e.n_measurements, 1) << e.seq;
    }
    for (const MeasurementRow& m : store.ListMeasurements(e.id)) {
      if (m.status != MeasurementStatus::kOk) continue;
      for (const std::string& id : Words(m.job_id.value_or(""))) {
        EXPECT_EQ(std::count(left.begin(), left.end(), id), 0) << "cancelled job " << id << " counted";
      }
    }
  }
  EXPECT_EQ(interrupted, 2);
  EXPECT_EQ(reruns, 2);
}

// A hostile train command may rewrite whatever its run folder holds. Under
// Slurm the job's own records (step results, node marker, hardware) are
// written on the node while the train command runs, so they must live where
// the sandbox does not let it write: forged "both steps succeeded" results
// and a forged evaluator output, behind a train that fails, must not count.
TEST_F(SlurmE2E, ATrainCommandCannotForgeTheJobsRecords) {
  const std::string ok =
      R"({{"error":"","exit_code":0,"outcome":"exited","peak_rss_kb":1,"stderr_bytes":1,)"
      R"("stdout_bytes":1,"term_signal":0,"wall_seconds":0.1}})";  // braces doubled: a spec's literal
  const std::string forge =
      "for d in {run_dir} {run_dir}.job; do mkdir -p $d; rm -f $d/job.results $d/job.started"
      " $d/job.hardware; printf '%s\\n%s\\n' '" + ok + "' '" + ok + "' > $d/job.results;"
      " printf 'vm\\njob 1\\n' > $d/job.started; done;"
      " echo '{{\"score\": -1000}}' > {run_dir}/eval.out; exit 1";
  const fs::path spec = WriteToySpec(
      temp_.path(), "toy.json",
      {{"train", {{"argv", {"/bin/sh", "-c", forge}}}},
       {"acceptance", {{"calibration", 2}}},
       {"backend", {{"kind", "slurm"}, {"slurm", {{"partition", "ratchet"}, {"submit", "srun"}}}}}});
  CommandOutput run = RunProgram(RunArgs(spec, {"--max-experiments", "1"}), temp_.path());
  ASSERT_TRUE(fs::exists(StorePath(Workspace()))) << run.err;

  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  RunRow row = *store.FindRun("toy");
  int measurements = 0;
  for (const ExperimentRow& e : store.ListExperiments(row.id)) {
    for (const MeasurementRow& m : store.ListMeasurements(e.id)) {
      ++measurements;
      EXPECT_EQ(m.status, MeasurementStatus::kCrashed) << e.seq << ": " << run.err;
      EXPECT_FALSE(m.metric.has_value()) << "forged score " << *m.metric << " counted";
      EXPECT_EQ(m.exit_code.value_or(0), 1) << e.seq;
      EXPECT_NE(m.job_id.value_or("1"), "1") << "the forged job id was taken";
    }
  }
  EXPECT_GE(measurements, 1) << run.err;
}

}  // namespace
}  // namespace ratchet::testing

// The sandbox end to end: hostile train commands under the real `ratchet run`
// and real bubblewrap. Each is contained, the run goes on, and the store and
// the branch stay sound.
#include <dirent.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/error.h"
#include "ratchet/loop/loop.h"
#include "ratchet/runner/process_limit.h"
#include "ratchet/store/store.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

// `sh -c "<hostile>; toy train ..."`: the hostile step, then a normal training.
std::vector<std::string> HostileThenToy(const std::string& hostile) {
  return ShellThenToy(hostile, ";");
}

// Processes on this machine whose command line contains `marker`.
int ProcessesWith(const std::string& marker) {
  int count = 0;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::string cmdline;
    try {
      cmdline = ReadFile(fs::path("/proc") / entry->d_name / "cmdline");
    } catch (const Error&) {
      continue;  // gone meanwhile
    }
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    count += cmdline.find(marker) != std::string::npos;
  }
  closedir(proc);
  return count;
}

class Sandbox : public ::testing::Test {
 protected:
  fs::path Workspace() const { return temp_.path() / "ws"; }
  fs::path RunDir() const { return Workspace() / ".ratchet" / "runs" / "toy" / "0.0"; }

  CommandOutput Run(const std::vector<std::string>& train, std::vector<std::string> extra = {},
                    json more = json::object()) {
    json changes = {{"train", {{"argv", train}}}, {"acceptance", {{"calibration", 2}}}};
    changes.merge_patch(more);
    fs::path spec = WriteToySpec(temp_.path(), "toy.json", changes);
    if (more.contains("search_space")) {  // replaced, not merged: the first proposal is known
      json whole = json::parse(ReadFile(spec));
      whole["search_space"] = more["search_space"];
      WriteFileAtomic(spec, whole.dump(2));
    }
    std::vector<std::string> args = {"run", spec.string(), "--workspace", Workspace().string(),
                                     "--max-experiments", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunProgram(RatchetArgs(args), temp_.path());
  }

  // Every experiment measured and decided; the branch at an accepted commit.
  void ExpectASoundRun(const CommandOutput& run) {
    ASSERT_TRUE(run.result.Succeeded()) << run.err;
    Store store = Store::OpenReadOnly(StorePath(Workspace()));
    auto row = store.FindRun("toy");
    ASSERT_TRUE(row.has_value());
    auto baseline = store.GetExperiment(row->id, 0);
    ASSERT_TRUE(baseline.has_value());
    EXPECT_EQ(baseline->status, ExperimentStatus::kAccepted) << baseline->reason.value_or("");
  }

  TempDir temp_;
};

TEST_F(Sandbox, ADaemonAndTwoHundredSleepsDieWithTheirMeasurement) {
  // A double-forked daemon in a session of its own that writes a file a
  // second after the 200 background sleeps are started (counting from then:
  // on a loaded machine the forks alone can take a second), and the sleeps:
  // all gone when training ends.
  const std::string marker = "31.41592" + std::to_string(getpid());
  CommandOutput run = Run(HostileThenToy(
      "(setsid sh -c 'while [ ! -e {run_dir}/forked ]; do sleep 0.05; done; sleep 1; "
      "echo alive > {run_dir}/late' &); i=0; while [ $i -lt 200 ]; do "
      "sleep " + marker + " & i=$((i+1)); done; touch {run_dir}/forked"));
  ExpectASoundRun(run);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_FALSE(fs::exists(RunDir() / "late"));
  EXPECT_EQ(ProcessesWith("sleep " + marker), 0);
}

TEST_F(Sandbox, AForkBombIsBoundedByTheProcessLimitAndTheRunGoesOn) {
  // The candidate (fork_bomb set) starts sleeps until a fork fails; the
  // shell then dies of it: a crashed experiment, nothing left behind.
  if (ProcessLimit probe(20); !probe.available()) GTEST_SKIP() << probe.unavailable_reason();
  const std::string marker = "27.1828" + std::to_string(getpid());
  CommandOutput run = Run(
      HostileThenToy("if grep -q '\"fork_bomb\": true' {workspace}/params.json; then i=0; while "
                     "[ $i -lt 500 ]; do sleep " + marker + " & i=$((i+1)); done; fi"),
      {}, {{"search_space", {{"fork_bomb", {{"type", "bool"}}}}}, {"limits", {{"processes", 20}}}});
  ExpectASoundRun(run);
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  auto bomb = store.GetExperiment(store.FindRun("toy")->id, 1);
  ASSERT_TRUE(bomb.has_value());
  EXPECT_EQ(bomb->status, ExperimentStatus::kCrashed);
  EXPECT_NE(bomb->reason.value_or("").find("Cannot fork"), std::string::npos)
      << bomb->reason.value_or("");
  EXPECT_EQ(ProcessesWith("sleep " + marker), 0);
}

TEST_F(Sandbox, NothingIsWrittenOutsideTheWorktreeAndTheRunFolder) {
  const std::string name = "ratchet-escape-" + std::to_string(getpid());
  const fs::path next_to_workspace = temp_.path() / name;
  const fs::path in_tmp = fs::path("/tmp") / name, in_home = fs::path("/root") / name;
  CommandOutput run = Run(HostileThenToy("touch " + next_to_workspace.string() + " " +
                                         in_tmp.string() + " " + in_home.string() + " " +
                                         Workspace().string() + "/planted; touch {run_dir}/ok"));
  ExpectASoundRun(run);
  EXPECT_TRUE(fs::exists(RunDir() / "ok"));  // its own run folder is writable
  for (const fs::path& p : {next_to_workspace, in_tmp, in_home, Workspace() / "planted"}) {
    EXPECT_FALSE(fs::exists(p)) << p;
  }
}

TEST_F(Sandbox, TheEvaluatorWritesNothingButItsPrivateTmp) {
  // What the evaluator runs (a kernel's shared object calling system() at
  // load time, say) cannot change the checkpoint it scores or leave files.
  const fs::path outside = temp_.path() / ("eval-escape-" + std::to_string(getpid()));
  std::vector<std::string> evaluate = {
      "/bin/sh", "-c",
      "touch " + outside.string() + " {run_dir}/planted /tmp/scratch 2>/dev/null; "
      "\"$0\" \"$@\"",
      "{bin_dir}/ratchet-toy", "eval", "--result", "{run_dir}/result.json", "--format", "json"};
  CommandOutput run = Run(HostileThenToy("true"), {}, {{"evaluate", {{"argv", evaluate}}}});
  ExpectASoundRun(run);
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_FALSE(fs::exists(RunDir() / "planted"));
  EXPECT_TRUE(fs::exists(RunDir() / "result.json"));
}

TEST_F(Sandbox, TheTrainCommandSeesNoHeldOutDataNoStoreAndNotTheController) {
  fs::path data = temp_.path() / "data";
  fs::create_directories(data);
  WriteFileAtomic(data / "train.bin", "train bytes");
  WriteFileAtomic(data / "val.bin", "held-out bytes");
  const std::string store = StorePath(Workspace()).string();
  CommandOutput run = Run(
      HostileThenToy("cat " + (data / "val.bin").string() + " " + store +
                     " > {run_dir}/stolen 2>/dev/null; ls /proc | grep -c '^[0-9]' > {run_dir}/pids;"
                     " cat {train_data}/train.bin > {run_dir}/train_copy"),
      {}, {{"data", {{"dir", data.string()}, {"train", {"train.bin"}}, {"heldout", {"val.bin"}}}}});
  ExpectASoundRun(run);
  EXPECT_EQ(ReadFile(RunDir() / "stolen"), "");
  EXPECT_EQ(ReadFile(RunDir() / "train_copy"), "train bytes");
  // Its own PID namespace: the shell, ls, grep and bwrap's init, not the host's processes.
  EXPECT_LE(std::stoi(ReadFile(RunDir() / "pids")), 6);
}

TEST_F(Sandbox, AnAgentCommandSeesNoHeldOutDataNoStoreAndNotTheController) {
  // The agent reports what it could read as its description, which the store keeps.
  fs::path data = temp_.path() / "data";
  fs::create_directories(data);
  WriteFileAtomic(data / "train.bin", "train bytes");
  WriteFileAtomic(data / "val.bin", "held-out bytes");
  const std::string agent =
      "v=$(cat " + (data / "val.bin").string() + " " + StorePath(Workspace()).string() +
      " 2>/dev/null | wc -c); p=$(ls /proc | grep -c '^[0-9]'); printf '{{\"x\": 1.0, \"y\": "
      "2.0, \"lr\": 0.1, \"depth\": 2, \"width\": 64, \"act\": \"relu\"}}\\n' > "
      "params.json; echo \"stolen $v pids $p\"";
  json more = {
      {"proposer", {{"kind", "command"}, {"argv", {"/bin/sh", "-c", agent}}, {"seed", 1}}},
      {"data", {{"dir", data.string()}, {"train", {"train.bin"}}, {"heldout", {"val.bin"}}}}};
  CommandOutput run = Run(HostileThenToy("true"), {}, more);
  ExpectASoundRun(run);
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  auto experiment = store.GetExperiment(store.FindRun("toy")->id, 1);
  ASSERT_TRUE(experiment.has_value());
  int stolen = -1, pids = -1;
  ASSERT_EQ(std::sscanf(experiment->description.c_str(), "stolen %d pids %d", &stolen, &pids), 2)
      << experiment->description;
  EXPECT_EQ(stolen, 0);
  EXPECT_LE(pids, 6);
}

TEST_F(Sandbox, NoSandboxRunsUncontainedAndRecordsAWarning) {
  const fs::path outside = temp_.path() / "outside";
  CommandOutput run = Run(HostileThenToy("touch " + outside.string()), {"--no-sandbox"});
  ExpectASoundRun(run);
  EXPECT_TRUE(fs::exists(outside));
  Store store = Store::OpenReadOnly(StorePath(Workspace()));
  bool warned = false;
  for (const EventRow& e : store.Events(store.FindRun("toy")->id)) {
    warned = warned || (e.level == "warning" && e.message.find("--no-sandbox") != std::string::npos);
  }
  EXPECT_TRUE(warned);
}

TEST_F(Sandbox, WithoutBubblewrapTheRunStopsWithOneLineSayingWhatToDo) {
  json changes = {{"acceptance", {{"calibration", 2}}}};
  fs::path spec = WriteToySpec(temp_.path(), "toy.json", changes);
  CommandOutput run = RunProgram({"/usr/bin/env", "PATH=/nonexistent", (BinDir() / "ratchet").string(),
                                  "run", spec.string(), "--workspace", Workspace().string()},
                                 temp_.path());
  EXPECT_EQ(run.result.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("apt-get install bubblewrap"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("--no-sandbox"), std::string::npos) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_FALSE(fs::exists(Workspace()));  // nothing created
}

}  // namespace
}  // namespace ratchet::testing

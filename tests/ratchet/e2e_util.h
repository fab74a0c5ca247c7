// Helpers for tests that drive the real `ratchet` program on the toy
// experiment: a temp folder, a spec derived from specs/toy.json, and running
// a command to completion with its output captured.
#pragma once

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "ratchet/runner/runner.h"

namespace ratchet::testing {

namespace fs = std::filesystem;

inline fs::path BinDir() { return RATCHET_BIN_DIR; }
inline fs::path SourceDir() { return RATCHET_SOURCE_DIR; }

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ratchet-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct CommandOutput {
  RunResult result;
  std::string out, err;
};

inline CommandOutput RunProgram(const std::vector<std::string>& argv, const fs::path& log_dir,
                                double timeout_seconds = 300,
                                const std::map<std::string, std::string>& extra_env = {}) {
  static int counter = 0;
  std::string stem = "cmd" + std::to_string(counter++);
  RunRequest request;
  request.argv = argv;
  request.stdout_path = log_dir / (stem + ".out");
  request.stderr_path = log_dir / (stem + ".err");
  request.timeout_seconds = timeout_seconds;
  request.extra_env = extra_env;
  PosixProcessRunner runner;
  CommandOutput output;
  output.result = runner.Run(request);
  // A stream that printed nothing leaves no file (log_capture.h).
  output.out = ReadLogTail(request.stdout_path, size_t{1} << 30);
  output.err = ReadLogTail(request.stderr_path, size_t{1} << 30);
  return output;
}

// The toy trainer's argv with noise sd `noise` and 5 ms of work.
inline std::vector<std::string> ToyTrain(const std::string& noise) {
  return {"{bin_dir}/ratchet-toy",
          "train",
          "--params",
          "{workspace}/params.json",
          "--seed",
          "{seed}",
          "--out",
          "{run_dir}/result.json",
          "--noise",
          noise,
          "--work-ms",
          "5"};
}

// `sh -c "<prefix> <then> toy train ..."`: the toy trainer after a shell step,
// only if it succeeded (then "&&") or whatever it did (then ";").
inline std::vector<std::string> ShellThenToy(const std::string& prefix,
                                             const std::string& then = "&&") {
  std::vector<std::string> argv = {"/bin/sh", "-c", prefix + " " + then + " \"$0\" \"$@\""};
  for (const std::string& arg : ToyTrain("0.1")) argv.push_back(arg);
  return argv;
}

// specs/toy.json with its template made absolute, `changes` merged in
// (JSON merge patch), written to `dir/name`.
inline fs::path WriteToySpec(const fs::path& dir, const std::string& name,
                             const nlohmann::json& changes) {
  nlohmann::json spec = nlohmann::json::parse(ReadFile(SourceDir() / "specs" / "toy.json"));
  spec["template"] = (SourceDir() / "experiments" / "toy").string();
  spec.merge_patch(changes);
  fs::path path = dir / name;
  WriteFileAtomic(path, spec.dump(2));
  return path;
}

inline std::vector<std::string> RatchetArgs(std::vector<std::string> args) {
  args.insert(args.begin(), (BinDir() / "ratchet").string());
  return args;
}

// `ratchet run` (or any program) in a thread; pid() once it started. A test
// that fails before Wait() still leaves no controller behind.
class BackgroundRun {
 public:
  BackgroundRun(std::vector<std::string> argv, const fs::path& logs) {
    request_.argv = std::move(argv);
    request_.stdout_path = logs / "bg.out";
    request_.stderr_path = logs / "bg.err";
    request_.timeout_seconds = 120;
    request_.on_start = [this](pid_t pgid) { pid_ = pgid; };
    thread_ = std::thread([this] { result_ = runner_.Run(request_); });
    while (pid_.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~BackgroundRun() {
    if (!thread_.joinable()) return;
    ::kill(pid(), SIGKILL);
    thread_.join();
  }
  pid_t pid() const { return pid_.load(); }
  RunResult Wait() {
    thread_.join();
    return result_;
  }

 private:
  PosixProcessRunner runner_;
  RunRequest request_;
  RunResult result_;
  std::atomic<pid_t> pid_{0};
  std::thread thread_;
};

}  // namespace ratchet::testing

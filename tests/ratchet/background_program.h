// A program the test starts in the background (a server, a long run) and
// stops when it ends: stdout and stderr go to files the test can read while
// it runs (the same file for both keeps them in order); the destructor kills
// its whole process group.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ratchet::testing {

class BackgroundProgram {
 public:
  BackgroundProgram(const std::vector<std::string>& argv, const std::filesystem::path& out,
                    const std::filesystem::path& err)
      : out_(out) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      std::freopen(out.c_str(), "w", stdout);
      if (err == out) {
        ::dup2(1, 2);  // one file for both, in order
      } else {
        std::freopen(err.c_str(), "w", stderr);
      }
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  BackgroundProgram(const BackgroundProgram&) = delete;
  BackgroundProgram& operator=(const BackgroundProgram&) = delete;
  ~BackgroundProgram() { Stop(SIGKILL); }

  // Sends `signal` to its group and reaps it; its exit status (or 128+signal).
  int Stop(int signal = SIGTERM) {
    if (pid_ <= 0) return status_;
    ::kill(-pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }

  // Waits up to `seconds` for `pattern`'s first group in its stdout.
  std::optional<std::string> AwaitOutput(const std::string& pattern, double seconds) const {
    const std::regex re(pattern);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(out_);
      std::stringstream text;
      text << in.rdbuf();
      std::smatch match;
      const std::string s = text.str();
      if (std::regex_search(s, match, re)) return match[1].str();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

 private:
  std::filesystem::path out_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace ratchet::testing

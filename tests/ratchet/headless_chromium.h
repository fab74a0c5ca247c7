// Real headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: commands on its fd 3, replies on its fd 4, each
// message JSON ended by a NUL byte), so a test can open a page once and
// watch its DOM change without reloading it. No Node.js, no WebSocket.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "ratchet/report/report_png.h"

namespace ratchet::testing {

class HeadlessChromium {
 public:
  static constexpr const char* kPath = "/usr/bin/chromium";

  explicit HeadlessChromium(const std::filesystem::path& profile_dir) {
    int to_browser[2], from_browser[2];
    if (::pipe(to_browser) != 0 || ::pipe(from_browser) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> argv =
        HeadlessChromiumArgv(kPath, profile_dir, {"--remote-debugging-pipe", "about:blank"});
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      // fds 3 and 4 as Chromium expects them; everything else closed.
      int in = ::dup(to_browser[0]), out = ::dup(from_browser[1]);
      ::dup2(in, 3);
      ::dup2(out, 4);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      for (int fd = 5; fd < 1024; ++fd) ::close(fd);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(to_browser[0]);
    ::close(from_browser[1]);
    write_fd_ = to_browser[1];
    read_fd_ = from_browser[0];
  }
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;
  ~HeadlessChromium() {
    ::close(write_fd_);
    ::close(read_fd_);
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Sends one command and waits for its reply (events in between are
  // dropped); throws on a protocol error or after `timeout` seconds.
  nlohmann::json Call(const std::string& method, const nlohmann::json& params,
                      const std::string& session = "", double timeout = 30) {
    nlohmann::json message = {{"id", ++last_id_}, {"method", method}, {"params", params}};
    if (!session.empty()) message["sessionId"] = session;
    std::string text = message.dump();
    text.push_back('\0');
    if (::write(write_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      throw std::runtime_error("chromium: write failed");
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout));
    for (;;) {
      nlohmann::json reply = nlohmann::json::parse(ReadMessage(deadline));
      if (!reply.contains("id") || reply["id"] != last_id_) continue;
      if (reply.contains("error")) throw std::runtime_error("chromium: " + reply["error"].dump());
      return reply["result"];
    }
  }

  // Opens `url` in a new tab; returns the session to evaluate in.
  std::string Open(const std::string& url) {
    std::string target = Call("Target.createTarget", {{"url", url}})["targetId"];
    return Call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
  }

  // The value of a JavaScript expression in the page.
  nlohmann::json Evaluate(const std::string& session, const std::string& expression) {
    nlohmann::json result =
        Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}}, session);
    if (result.contains("exceptionDetails")) {
      throw std::runtime_error("page: " + result["exceptionDetails"].dump());
    }
    return result["result"].value("value", nlohmann::json());
  }

 private:
  std::string ReadMessage(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      size_t end = buffer_.find('\0');
      if (end != std::string::npos) {
        std::string message = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return message;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("chromium: no reply in time");
      pollfd p{read_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::read(read_fd_, chunk, sizeof(chunk));
      if (n <= 0) throw std::runtime_error("chromium: the browser closed its pipe");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int write_fd_ = -1, read_fd_ = -1;
  int last_id_ = 0;
  std::string buffer_;
};

}  // namespace ratchet::testing

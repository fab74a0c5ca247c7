#include "ratchet/serve/server.h"

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "ratchet/serve/dashboard_data.h"
#include "ratchet/serve/dashboard_page.h"

namespace ratchet {
namespace {

using nlohmann::json;

void Reply(httplib::Response& response, const json& body, int status = 200) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_content(body.dump(), "application/json");
}

// Runs `view` and answers with its JSON; a bad request or a missing run or
// experiment is a 404 with the error's one line.
template <typename View>
httplib::Server::Handler JsonRoute(View view) {
  return [view](const httplib::Request& request, httplib::Response& response) {
    try {
      Reply(response, view(request));
    } catch (const std::exception& error) {
      Reply(response, {{"error", error.what()}}, 404);
    }
  };
}

std::vector<std::string> SplitTags(const std::string& text) {
  std::vector<std::string> tags;
  std::stringstream in(text);
  for (std::string tag; std::getline(in, tag, ',');) {
    if (!tag.empty()) tags.push_back(tag);
  }
  return tags;
}

int64_t ParseSeq(const std::string& text) {
  size_t used = 0;
  int64_t seq = -1;
  try {
    seq = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  if (text.empty() || used != text.size() || seq < 0) {
    throw Error("seq must be an experiment number, got '" + text + "'");
  }
  return seq;
}

}  // namespace

void CommandServe(const ServeOptions& options, std::ostream& out) {
  const std::filesystem::path workspace = options.workspace;
  RunsView(workspace);  // fails now, in one line, if there is no store
  httplib::Server server;
  server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::string(DashboardHtml()), "text/html; charset=utf-8");
  });
  server.Get("/api/runs",
             JsonRoute([workspace](const httplib::Request&) { return RunsView(workspace); }));
  server.Get("/api/run", JsonRoute([workspace](const httplib::Request& request) {
               return RunView(LoadWorkspaceRun(workspace, request.get_param_value("tag")));
             }));
  server.Get("/api/experiment", JsonRoute([workspace](const httplib::Request& request) {
               return ExperimentView(LoadWorkspaceRun(workspace, request.get_param_value("tag")),
                                     ParseSeq(request.get_param_value("seq")));
             }));
  server.Get("/api/compare", JsonRoute([workspace](const httplib::Request& request) {
               std::vector<RunData> runs;
               for (const std::string& tag : SplitTags(request.get_param_value("tags"))) {
                 runs.push_back(LoadWorkspaceRun(workspace, tag));
               }
               return CompareView(runs);
             }));

  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would
  // let a second `ratchet serve` share a port that is already taken.
  server.set_socket_options([](socket_t socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw Error("ratchet serve: cannot listen on " + options.host + ":" +
                std::to_string(options.port) + " (in use, or not an address of this machine)");
  }
  // Ctrl-C and SIGTERM stop the server from a thread of their own (a signal
  // handler may not call into it); the thread also ends when the server does.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    const timespec poll{0, 200'000'000};
    while (!done.load()) {
      if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) {
        server.stop();
        return;
      }
    }
  });
  out << "serving " << workspace.string() << " on http://" << options.host << ":" << port
      << "/ (read-only; Ctrl-C stops)" << std::endl;
  server.listen_after_bind();
  done.store(true);
  stopper.join();
}

}  // namespace ratchet

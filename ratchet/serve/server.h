// `ratchet serve`: a live dashboard of a workspace over HTTP (cpp-httplib).
// Read-only: every request opens the store read-only and reads the logs; the
// page (dashboard_page.h) polls the JSON routes, so it follows a running
// ratchet without reloads.
//   GET /                       the page
//   GET /api/runs               every run of the workspace
//   GET /api/run?tag=T          one run (dashboard_data.h RunView)
//   GET /api/experiment?tag=T&seq=N
//   GET /api/compare?tags=A,B   runs side by side
// Bound to 127.0.0.1 unless told otherwise: the pages show code, prompts and
// logs, which are nobody else's business.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace ratchet {

struct ServeOptions {
  std::filesystem::path workspace;
  std::string host = "127.0.0.1";
  int port = 8321;  // 0: any free port (printed)
};

// Serves until SIGINT or SIGTERM. Prints the address on `out` once listening.
// Throws Error (one line) when the workspace has no store or the port is taken.
void CommandServe(const ServeOptions& options, std::ostream& out);

}  // namespace ratchet

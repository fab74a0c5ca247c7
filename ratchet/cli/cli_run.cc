#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <spdlog/fmt/fmt.h>

#include "ratchet/cli/cli.h"
#include "base/error.h"
#include "ratchet/report/results_tsv.h"
#include "ratchet/store/store.h"

namespace ratchet {
namespace {

InterruptCounter g_interrupts{0};

void OnInterrupt(int signal_number) {
  // SIGTERM (a supervisor stopping us) means "now", like a second Ctrl-C.
  g_interrupts.fetch_add(signal_number == SIGTERM ? 2 : 1);
  static const char kFirst[] =
      "\nratchet: finishing the current experiment, then stopping (Ctrl-C again to kill it)\n";
  if (g_interrupts.load() == 1) {
    ssize_t ignored = ::write(STDERR_FILENO, kFirst, sizeof(kFirst) - 1);
    (void)ignored;
  }
}

void InstallHandlers() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

double ParseUntil(const std::string& hh_mm, double now) {
  int hours = -1, minutes = -1;
  char extra = 0;
  if (std::sscanf(hh_mm.c_str(), "%d:%d%c", &hours, &minutes, &extra) != 2 || hours < 0 ||
      hours > 23 || minutes < 0 || minutes > 59) {
    throw Error("--until " + hh_mm + ": expected HH:MM (24-hour local time)");
  }
  time_t now_t = static_cast<time_t>(now);
  std::tm local{};
  localtime_r(&now_t, &local);
  local.tm_hour = hours;
  local.tm_min = minutes;
  local.tm_sec = 0;
  local.tm_isdst = -1;
  double target = static_cast<double>(std::mktime(&local));
  if (target <= now) {
    local.tm_mday += 1;
    local.tm_isdst = -1;
    target = static_cast<double>(std::mktime(&local));
  }
  return target;
}

int CommandRun(const RunOptions& given, std::ostream& out) {
  InstallHandlers();
  PosixProcessRunner runner;
  Progress progress(stderr, Progress::IsTty(stderr));
  RunOptions options = given;
  options.after_decision = [&](const Store& store, const RunRow& run) {
    WriteResultsTsvFile(store, run, ResultsTsvPath(options.workspace, run.tag));
  };
  RunSummary summary = RunRatchet(options, runner, g_interrupts, progress);
  out << fmt::format("run '{}' stopped ({}): {} experiments, {} accepted", summary.tag,
                     summary.stop_reason, summary.experiments, summary.accepted);
  if (summary.baseline_metric && summary.best_metric) {
    out << fmt::format("; baseline {:.6g}, best {:.6g}", *summary.baseline_metric,
                       *summary.best_metric);
  }
  out << "\n";
  if (!summary.best_commit.empty()) {
    out << "best commit " << summary.best_commit.substr(0, 12) << " on branch ratchet/"
        << summary.tag << "\n";
  }
  return g_interrupts.load() >= 2 ? 130 : 0;
}

}  // namespace ratchet

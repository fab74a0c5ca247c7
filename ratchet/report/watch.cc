#include "ratchet/report/watch.h"

#include <signal.h>
#include <spdlog/fmt/fmt.h>

#include <cstdlib>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop.h"

namespace ratchet {

std::optional<long> LockHolderPid(const std::filesystem::path& workspace) {
  std::filesystem::path lock = RatchetDir(workspace) / "lock";
  std::error_code error;
  if (!std::filesystem::exists(lock, error)) return std::nullopt;
  std::string text;
  try {
    text = ReadFile(lock);
  } catch (const Error&) {
    return std::nullopt;  // released between the two calls
  }
  long pid = std::atol(text.c_str());
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return std::nullopt;
  return pid;
}

bool RunEnded(const RunData& data, bool controller_alive) {
  return data.run.state != RunState::kRunning || !controller_alive;
}

std::string RenderWatchFrame(const RunData& data, double now, bool controller_alive,
                             int last_results) {
  const RunRow& run = data.run;
  std::ostringstream out;
  bool running = controller_alive && run.state == RunState::kRunning;
  out << fmt::format(
      "ratchet run {} · {} · {}\n", run.tag,
      running ? "running"
              : std::string(ToString(run.state)) + (controller_alive ? "" : " (no controller)"),
      FormatClock(now));
  double end = running ? now : run.ended_at.value_or(run.updated_at);
  out << fmt::format("{} ({}) · budget {} {:g}{} per training · elapsed {}\n", run.metric_name,
                     run.goal, run.budget_kind, run.budget_amount,
                     run.budget_kind == "time" ? " s" : "",
                     FormatDuration(std::max(0.0, end - run.started_at)));
  RunTotals totals = ComputeTotals(data);
  const std::string tally = StatusTally(totals);
  out << fmt::format("experiments: {}{} · {:.1f}/h\n", totals.experiments,
                     tally.empty() ? "" : " (" + tally + ")", totals.experiments_per_hour);

  for (const ExperimentRow& e : data.experiments) {
    if (!IsUnfinished(e.status)) continue;
    double elapsed = now - e.started_at;
    std::string phase = e.phase.empty() ? std::string(ToString(e.status)) : e.phase;
    std::string bar;
    if (run.budget_kind == "time" && run.budget_amount > 0 && running) {
      // The training budget is per measurement; show the current one's share.
      double share = std::clamp(elapsed / run.budget_amount, 0.0, 1.0);
      int filled = static_cast<int>(share * 20);
      bar = " [" + std::string(filled, '#') + std::string(20 - filled, '.') + "]";
    }
    out << fmt::format("now: [{}] {}{} {:.1f} s{}{}\n", e.seq, running ? "" : "(stale) ", phase,
                       elapsed, bar, e.description.empty() ? "" : " · " + e.description);
  }

  if (const ExperimentRow* best = BestExperiment(data)) {
    std::string gain;
    if (best->metric && run.baseline_metric && *run.baseline_metric != 0) {
      double d = run.goal == "maximize" ? *best->metric - *run.baseline_metric
                                        : *run.baseline_metric - *best->metric;
      gain = fmt::format(" ({:+.2f} % over baseline {})", 100 * d / std::fabs(*run.baseline_metric),
                         FormatMetric(run.baseline_metric));
    }
    out << fmt::format("best: [{}] {} {}{}{}\n", best->seq, run.metric_name,
                       FormatMetric(best->metric), gain,
                       best->description.empty() ? "" : " · " + best->description);
  }

  std::vector<const ExperimentRow*> finished;
  for (const ExperimentRow& e : data.experiments) {
    if (!IsUnfinished(e.status) && e.seq > 0) finished.push_back(&e);
  }
  size_t first = finished.size() > static_cast<size_t>(last_results)
                     ? finished.size() - static_cast<size_t>(last_results)
                     : 0;
  if (first < finished.size()) out << "last results:\n";
  for (size_t i = first; i < finished.size(); ++i) {
    const ExperimentRow& e = *finished[i];
    out << fmt::format("  {:>5}  {:<11} {:>12}  {}\n", e.seq, ToString(e.status),
                       FormatMetric(e.metric),
                       SingleLine(e.description.empty() ? e.reason.value_or("") : e.description));
  }
  return out.str();
}

void WatchStatus(const WatchOptions& options, std::ostream& out, bool is_tty,
                 const std::function<void(double seconds)>& sleep) {
  for (int64_t frame = 1;; ++frame) {
    RunData data = LoadWorkspaceRun(options.workspace, options.tag);
    bool alive = LockHolderPid(options.workspace).has_value();
    std::string text = RenderWatchFrame(data, NowSeconds(), alive, options.last_results);
    if (is_tty) {
      out << "\x1b[H\x1b[2J" << text;
    } else {
      out << (frame > 1 ? "\n" : "") << text;
    }
    out.flush();
    if (RunEnded(data, alive)) return;
    if (options.max_frames > 0 && frame >= options.max_frames) return;
    sleep(options.interval);
  }
}

}  // namespace ratchet

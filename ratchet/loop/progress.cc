#include "ratchet/loop/progress.h"

#include <unistd.h>

#include <chrono>

namespace ratchet {
namespace {

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Progress::Progress(std::FILE* out, bool live) : out_(out), live_(live) {}

bool Progress::IsTty(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

void Progress::Phase(int64_t seq, const std::string& phase, double budget_seconds,
                     std::optional<double> best) {
  seq_ = seq;
  phase_ = phase;
  budget_seconds_ = budget_seconds;
  best_ = best;
  phase_started_ = MonotonicSeconds();
  if (live_) {
    Redraw();
  } else {
    std::fprintf(out_, "[%lld] %s\n", static_cast<long long>(seq), phase.c_str());
    std::fflush(out_);
  }
}

void Progress::Tick() {
  if (!live_ || seq_ < 0) return;
  if (MonotonicSeconds() - last_redraw_ < 0.25) return;
  Redraw();
}

void Progress::Redraw() {
  last_redraw_ = MonotonicSeconds();
  double elapsed = last_redraw_ - phase_started_;
  char budget[32] = "";
  if (budget_seconds_ > 0) std::snprintf(budget, sizeof(budget), " / %.0fs", budget_seconds_);
  char best[48] = "best -";
  if (best_) std::snprintf(best, sizeof(best), "best %.6g", *best_);
  std::fprintf(out_, "\r\033[K[%lld] %-14s %6.1fs%s  %s", static_cast<long long>(seq_),
               phase_.c_str(), elapsed, budget, best);
  std::fflush(out_);
  line_shown_ = true;
}

void Progress::Line(const std::string& text) {
  if (live_ && line_shown_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s\n", text.c_str());
  if (live_ && seq_ >= 0) Redraw();
  std::fflush(out_);
}

void Progress::Finish() {
  if (live_ && line_shown_) std::fputs("\r\033[K", out_);
  std::fflush(out_);
  seq_ = -1;
  line_shown_ = false;
}

}  // namespace ratchet

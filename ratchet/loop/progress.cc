#include "ratchet/loop/progress.h"

#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace ratchet {
namespace {

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// 950, 11.5k, 1.40M: short enough for a status line.
std::string Count(double n) {
  if (n >= 1e6) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.1f}k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string Duration(double seconds) {
  seconds = std::max(0.0, seconds);
  if (seconds < 100) return fmt::format("{:.0f}s", seconds);
  if (seconds < 6000)
    return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
  return fmt::format("{:.1f}h", seconds / 3600);
}

}  // namespace

Progress::Progress(std::FILE* out, bool live, Clock clock)
    : out_(out), live_(live), clock_(clock ? std::move(clock) : Clock(MonotonicSeconds)) {}

bool Progress::IsTty(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

void Progress::Phase(int64_t seq, const std::string& phase, std::optional<double> best,
                     PhaseBudget budget, const std::filesystem::path& train_log) {
  const double now = clock_();
  if (seq == seq_ && EndsWith(phase_, "evaluate")) evaluate_seconds_ = now - phase_started_;
  seq_ = seq;
  phase_ = phase;
  budget_ = budget;
  train_log_ = train_log;
  last_point_.reset();
  best_ = best;
  phase_started_ = now;
  quarters_printed_ = 0;
  if (live_) {
    Redraw();
  } else {
    std::fprintf(out_, "[%lld] %s\n", static_cast<long long>(seq), phase.c_str());
    std::fflush(out_);
  }
}

void Progress::Tick() {
  if (seq_ < 0) return;
  const double now = clock_();
  if (now - last_redraw_ < (live_ ? 0.25 : 1.0)) return;
  last_redraw_ = now;
  if (!train_log_.empty()) {
    if (auto point = LastTrainingPoint(train_log_)) last_point_ = point;
  }
  if (live_) {
    Redraw();
    return;
  }
  // Plain output: a line at each quarter of the budget, none past the end.
  const double elapsed = now - phase_started_;
  const int quarter = static_cast<int>(Fraction(elapsed) * 4);
  if (quarter > quarters_printed_ && quarter < 4 && last_point_) {
    quarters_printed_ = quarter;
    std::fprintf(out_, "[%lld] %s %s\n", static_cast<long long>(seq_), phase_.c_str(),
                 Status(elapsed).c_str());
    std::fflush(out_);
  }
}

double Progress::Fraction(double elapsed) const {
  if (budget_.tokens > 0) {
    return last_point_ && last_point_->tokens
               ? static_cast<double>(*last_point_->tokens) / budget_.tokens
               : 0.0;
  }
  return budget_.seconds > 0 ? elapsed / budget_.seconds : 0.0;
}

std::string Progress::Status(double elapsed) const {
  std::string text;
  const int64_t tokens = last_point_ && last_point_->tokens ? *last_point_->tokens : 0;
  if (budget_.tokens > 0) {
    text = fmt::format("{} / {} tok", Count(static_cast<double>(tokens)),
                       Count(static_cast<double>(budget_.tokens)));
  } else {
    text = fmt::format("{:6.1f}s", elapsed);
    if (budget_.seconds > 0) text += fmt::format(" / {:.0f}s", budget_.seconds);
  }
  if (!last_point_) return text;
  text += fmt::format("  loss {:.4g}", last_point_->loss);
  const double rate = last_point_->tokens_per_s.value_or(0);
  if (rate > 0) text += "  " + Count(rate) + " tok/s";
  // The measurement's end: the rest of the budget, then an evaluation as
  // long as the last one.
  std::optional<double> left;
  if (budget_.tokens > 0 && rate > 0) {
    left = static_cast<double>(budget_.tokens - tokens) / rate;
  } else if (budget_.seconds > 0) {
    left = budget_.seconds - elapsed;
  }
  if (left) text += "  eta " + Duration(*left + evaluate_seconds_.value_or(0));
  return text;
}

void Progress::Redraw() {
  last_redraw_ = clock_();
  std::string best = best_ ? fmt::format("best {:.6g}", *best_) : "best -";
  std::fprintf(out_, "\r\033[K[%lld] %-14s %s  %s", static_cast<long long>(seq_), phase_.c_str(),
               Status(last_redraw_ - phase_started_).c_str(), best.c_str());
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

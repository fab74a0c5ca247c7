#include "ratchet/loop/loop_internal.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ratchet::internal {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

uint64_t HashString(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

int64_t MeasurementSeed(const std::string& tag, int64_t seq, int64_t index) {
  uint64_t mixed = SplitMix64(HashString(tag) ^ SplitMix64(static_cast<uint64_t>(seq) * 1000003ULL +
                                                          static_cast<uint64_t>(index)));
  return static_cast<int64_t>(mixed & 0x7fffffffULL);
}

std::string FormatNumber(double value) {
  std::ostringstream out;
  out.precision(10);
  out << value;
  return out.str();
}

fs::path CacheDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "ratchet";
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".cache" / "ratchet";
  }
  return fs::temp_directory_path() / "ratchet-cache";
}

fs::path Absolute(const fs::path& path, const fs::path& base) {
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

std::optional<fs::path> ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return fs::path(program);
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

Goal ToGoal(MetricSpec::Goal goal) {
  return goal == MetricSpec::Goal::kMinimize ? Goal::kMinimize : Goal::kMaximize;
}

AcceptanceRule RuleOf(const Spec& spec) {
  AcceptanceRule rule;
  rule.goal = ToGoal(spec.metric.goal);
  rule.min_delta = spec.acceptance.min_delta;
  rule.max_improvement = spec.acceptance.max_improvement;
  rule.alpha = spec.acceptance.alpha;
  rule.extend_above = spec.acceptance.extend_above;
  switch (spec.acceptance.policy) {
    case AcceptanceSpec::Policy::kStrict: rule.policy = Policy::kStrict; break;
    case AcceptanceSpec::Policy::kThreshold: rule.policy = Policy::kThreshold; break;
    case AcceptanceSpec::Policy::kConfirm: rule.policy = Policy::kConfirm; break;
  }
  return rule;
}

double StandardDeviation(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  double mean = Mean(values);
  double squares = 0.0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

// Deletes the large files (checkpoints) of one measurement's folder; logs

void PruneArtifacts(const fs::path& measurement_dir) {
  std::error_code error;
  for (const auto& file : fs::recursive_directory_iterator(measurement_dir, error)) {
    std::string extension = file.path().extension().string();
    if (extension == ".out" || extension == ".err" || !file.is_regular_file()) continue;
    if (file.file_size() >= kKeptArtifactBytes) fs::remove(file.path(), error);
  }
}

// A night of experiments writes a checkpoint per measurement; only the

}  // namespace ratchet::internal

#include "ratchet/runner/training_log.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "ratchet/runner/runner.h"

namespace ratchet {
namespace {

template <typename T>
std::optional<T> NumberAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<T>();
}

}  // namespace

std::optional<TrainingPoint> ParseTrainingLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.size() < 2 || line.front() != '{' || line.back() != '}') return std::nullopt;
  nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return std::nullopt;
  std::optional<double> loss = NumberAt<double>(object, "loss");
  if (!loss) return std::nullopt;
  TrainingPoint point;
  point.loss = *loss;
  point.step = NumberAt<int64_t>(object, "step");
  point.tokens = NumberAt<int64_t>(object, "tokens");
  point.tokens_per_s = NumberAt<double>(object, "tokens_per_s");
  point.elapsed = NumberAt<double>(object, "elapsed");
  return point;
}

std::vector<TrainingPoint> ReadTrainingCurve(const std::filesystem::path& path, size_t max_points) {
  std::vector<TrainingPoint> points;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (auto point = ParseTrainingLine(line)) points.push_back(*point);
  }
  if (max_points < 2 || points.size() <= max_points) return points;
  std::vector<TrainingPoint> thinned;
  thinned.reserve(max_points);
  const double stride = static_cast<double>(points.size() - 1) / (max_points - 1);
  for (size_t i = 0; i < max_points; ++i) {
    thinned.push_back(points[static_cast<size_t>(i * stride + 0.5)]);
  }
  return thinned;
}

std::optional<TrainingPoint> LastTrainingPoint(const std::filesystem::path& path) {
  // A progress line is ~100 bytes; 4 KiB holds the last one even when a few
  // lines of other output follow it.
  const std::string tail = ReadLogTail(path, 4096);
  size_t end = tail.size();
  while (end > 0) {
    size_t begin = tail.rfind('\n', end - 1);
    begin = begin == std::string::npos ? 0 : begin + 1;
    if (auto point = ParseTrainingLine(std::string_view(tail).substr(begin, end - begin))) {
      return point;
    }
    if (begin == 0) break;
    end = begin - 1;
  }
  return std::nullopt;
}

}  // namespace ratchet

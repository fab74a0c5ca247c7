#include "ratchet/loop/metric_reader.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

namespace ratchet {
namespace {

std::vector<std::string_view> LinesNewestFirst(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return {lines.rbegin(), lines.rend()};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses a number as evaluators print it, including nan/inf spellings.
std::optional<double> ParseNumber(std::string_view text) {
  std::string token(Trim(text));
  if (token.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(token.c_str(), &end);  // accepts "nan", "inf", "-inf"
  if (end == token.c_str()) return std::nullopt;
  // Allow a trailing unit or punctuation ("1.23 bpb", "0.5,") but not "1.2.3".
  if (*end != '\0' && !std::isspace(static_cast<unsigned char>(*end)) && *end != ',' &&
      *end != ';') {
    return std::nullopt;
  }
  return value;
}

std::optional<double> JsonNumber(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (value.is_string()) return ParseNumber(value.get<std::string>());
  return std::nullopt;
}

// Python's json module prints NaN, Infinity and -Infinity, which JSON does
// not allow; evaluators written in Python print them for a diverged model.
std::string QuoteNonFiniteLiterals(std::string_view line) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '"' && (i == 0 || line[i - 1] != '\\')) in_string = !in_string;
    if (!in_string) {
      bool replaced = false;
      for (std::string_view literal : {"-Infinity", "Infinity", "NaN"}) {
        if (line.substr(i, literal.size()) == literal) {
          out += '"' + std::string(literal) + '"';
          i += literal.size() - 1;
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out += c;
  }
  return out;
}

std::optional<MetricReading> FromJsonLine(std::string_view line, const std::string& name) {
  line = Trim(line);
  if (line.size() < 2 || line.front() != '{' || line.back() != '}') return std::nullopt;
  nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    object = nlohmann::json::parse(QuoteNonFiniteLiterals(line), nullptr, false);
  }
  if (!object.is_object() || !object.contains(name)) return std::nullopt;
  MetricReading reading;
  reading.value = JsonNumber(object[name]);
  if (!reading.value) reading.value = std::numeric_limits<double>::quiet_NaN();
  for (const auto& [key, value] : object.items()) {
    if (key != name && value.is_number()) reading.extra[key] = value;
  }
  return reading;
}

std::optional<MetricReading> FromKeyValueLine(std::string_view line, const std::string& name) {
  line = Trim(line);
  if (line.substr(0, name.size()) != name) return std::nullopt;
  std::string_view rest = Trim(line.substr(name.size()));
  if (rest.empty() || (rest.front() != ':' && rest.front() != '=')) return std::nullopt;
  MetricReading reading;
  reading.value = ParseNumber(rest.substr(1));
  if (!reading.value) reading.value = std::numeric_limits<double>::quiet_NaN();
  return reading;
}

}  // namespace

MetricReading ReadMetric(std::string_view output, const MetricSpec& metric) {
  for (std::string_view line : LinesNewestFirst(output)) {
    std::optional<MetricReading> reading = metric.format == MetricSpec::Format::kJson
                                               ? FromJsonLine(line, metric.name)
                                               : FromKeyValueLine(line, metric.name);
    if (reading) return *reading;
  }
  return {};
}

}  // namespace ratchet

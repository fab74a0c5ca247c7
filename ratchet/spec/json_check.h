// Checking a JSON document against what it must hold, with errors that name
// the file and the key path ("<file>: <key path>: <problem>"): typed getters,
// objects with a known key list, syntax errors by line and column, duplicate
// keys. The spec's parser (spec.cc) is built on it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace ratchet::json_check {

using OJson = nlohmann::ordered_json;

inline std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

// A value as it appears in the file, shortened for a one-line message.
inline std::string Shown(const OJson& value) {
  std::string s = value.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

inline std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Reports errors as "<file>: <key path>: <problem>".
class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void Fail(const std::string& path, const std::string& problem) const {
    throw Error(file_ + ": " + (path.empty() ? "" : path + ": ") + problem);
  }
  [[noreturn]] void Expected(const std::string& path, const std::string& what,
                             const OJson& got) const {
    Fail(path, "expected " + what + ", got " + Shown(got));
  }

  std::string String(const OJson& v, const std::string& path) const {
    if (!v.is_string()) Expected(path, "a string", v);
    return v.get<std::string>();
  }
  std::string NonEmptyString(const OJson& v, const std::string& path) const {
    std::string s = String(v, path);
    if (s.empty()) Fail(path, "must not be empty");
    return s;
  }
  bool Bool(const OJson& v, const std::string& path) const {
    if (!v.is_boolean()) Expected(path, "true or false", v);
    return v.get<bool>();
  }
  double Number(const OJson& v, const std::string& path) const {
    if (!v.is_number()) Expected(path, "a number", v);
    return v.get<double>();
  }
  // Integral floats (1e9) are integers too: JSON writers produce them.
  int64_t Integer(const OJson& v, const std::string& path) const {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}) {
        Fail(path, "too large");
      }
      return v.get<int64_t>();
    }
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    }
    Expected(path, "an integer", v);
  }
  int64_t IntegerAtLeast(const OJson& v, const std::string& path, int64_t min) const {
    int64_t n = Integer(v, path);
    if (n < min)
      Fail(path, "must be at least " + std::to_string(min) + ", got " + std::to_string(n));
    return n;
  }
  double Positive(const OJson& v, const std::string& path) const {
    double d = Number(v, path);
    if (!(d > 0)) Fail(path, "must be > 0, got " + Shown(v));
    return d;
  }
  double NonNegative(const OJson& v, const std::string& path) const {
    double d = Number(v, path);
    if (!(d >= 0)) Fail(path, "must be >= 0, got " + Shown(v));
    return d;
  }
  std::vector<std::string> Strings(const OJson& v, const std::string& path) const {
    if (!v.is_array()) Expected(path, "an array of strings", v);
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) out.push_back(String(v[i], Index(path, i)));
    return out;
  }
  // A path that stays inside its root: relative, no ".." segment.
  std::string RelativePath(const OJson& v, const std::string& path) const {
    std::string s = NonEmptyString(v, path);
    std::filesystem::path p(s);
    if (p.is_absolute()) Fail(path, "must be a relative path, got \"" + s + "\"");
    for (const auto& part : p) {
      if (part == "..") Fail(path, "must not contain '..', got \"" + s + "\"");
    }
    return s;
  }
  std::string Choice(const OJson& v, const std::string& path,
                     const std::vector<std::string>& allowed) const {
    if (!v.is_string() ||
        std::find(allowed.begin(), allowed.end(), v.get<std::string>()) == allowed.end()) {
      Fail(path, "expected one of " + Join(allowed, ", ") + ", got " + Shown(v));
    }
    return v.get<std::string>();
  }

 private:
  std::string file_;
};

// A JSON object whose keys are checked against a known list on construction.
// A null value counts as absent, so optional keys may be written as null.
class Object {
 public:
  Object(const Checker& c, const OJson& json, std::string path, std::vector<std::string> known)
      : c_(c), json_(json), path_(std::move(path)) {
    if (!json.is_object()) c.Expected(path_, "an object", json);
    for (const auto& item : json.items()) {
      if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
        c.Fail(Path(item.key()), "unknown key (expected one of " + Join(known, ", ") + ")");
      }
    }
  }

  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  const OJson* Find(const std::string& key) const {
    auto it = json_.find(key);
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }
  const OJson& Required(const std::string& key) const {
    const OJson* v = Find(key);
    if (v == nullptr) c_.Fail(Path(key), "required key is missing");
    return *v;
  }

 private:
  const Checker& c_;
  const OJson& json_;
  std::string path_;
};

// "[json.exception.parse_error.101] parse error at line 3, column 1: syntax
// error while parsing object key - unexpected '}'; expected string literal"
// -> "unexpected '}'; expected string literal".
inline std::string SyntaxDetail(const std::string& what) {
  size_t dash = what.find(" - ");
  if (dash != std::string::npos) return what.substr(dash + 3);
  size_t colon = what.find(": ");
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

// 1-based line and column of byte offset `byte` (nlohmann: 1-based index of
// the last character read, so the character at fault).
inline std::pair<size_t, size_t> LineColumn(std::string_view text, size_t byte) {
  size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, end - line_start + 1};
}

// nlohmann keeps one of two duplicate keys silently; a spec with "lr" twice
// in its search space is a mistake worth stopping for. Tracks the key path
// through the parser's events.
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(const Checker& c) : c_(c) {}

  bool operator()(int /*depth*/, OJson::parse_event_t event, OJson& parsed) {
    using E = OJson::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        frames_.push_back({event == E::array_start, 0, "", {}, ChildName()});
        break;
      case E::key: {
        Frame& top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second) c_.Fail(PathTo(top.key), "duplicate key");
        break;
      }
      case E::object_end:
      case E::array_end:
        frames_.pop_back();
        ElementDone();
        break;
      case E::value:
        ElementDone();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array;
    size_t index;
    std::string key;
    std::set<std::string> keys;
    std::string name;  // this frame's segment in the path ("" for the root)
  };
  std::string ChildName() const {
    if (frames_.empty()) return "";
    const Frame& top = frames_.back();
    return top.array ? "[" + std::to_string(top.index) + "]" : top.key;
  }
  void ElementDone() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }
  std::string PathTo(const std::string& key) const {
    std::string path;
    for (const Frame& f : frames_) {
      if (f.name.empty()) continue;
      path += (f.name[0] == '[' || path.empty()) ? f.name : "." + f.name;
    }
    return path.empty() ? key : path + "." + key;
  }

  const Checker& c_;
  std::vector<Frame> frames_;
};

}  // namespace ratchet::json_check

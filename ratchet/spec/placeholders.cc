#include "ratchet/spec/placeholders.h"

#include <algorithm>

#include "base/error.h"

namespace ratchet {

const std::vector<std::string> kKnownPlaceholders = {
    "workspace", "run_dir", "seed",      "budget",     "budget_kind", "threads",
    "spec_dir",  "bin_dir", "cache_dir", "train_data", "data_dir"};

bool IsKnownPlaceholder(const std::string& name) {
  return std::find(kKnownPlaceholders.begin(), kKnownPlaceholders.end(), name) !=
         kKnownPlaceholders.end();
}

namespace {

bool IsNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

std::string Quoted(const std::string& arg) { return "\"" + arg + "\""; }

// Walks `arg` once; literal text goes to `on_text`, each placeholder name to
// `on_name`. The one parser behind PlaceholderNames and Substitute, so both
// agree on what a placeholder is.
template <class OnText, class OnName>
void Scan(const std::string& arg, OnText on_text, OnName on_name) {
  size_t i = 0;
  while (i < arg.size()) {
    char c = arg[i];
    if (c == '{' && i + 1 < arg.size() && arg[i + 1] == '{') {
      on_text('{');
      i += 2;
    } else if (c == '}' && i + 1 < arg.size() && arg[i + 1] == '}') {
      on_text('}');
      i += 2;
    } else if (c == '}') {
      throw Error("lone '}' in argument " + Quoted(arg) + " (write }} for a literal brace)");
    } else if (c == '{') {
      size_t close = arg.find('}', i + 1);
      if (close == std::string::npos) {
        throw Error("unclosed '{' in argument " + Quoted(arg) + " (write {{ for a literal brace)");
      }
      std::string name = arg.substr(i + 1, close - i - 1);
      if (name.empty() || !std::all_of(name.begin(), name.end(), IsNameChar)) {
        throw Error("malformed placeholder {" + name + "} in argument " + Quoted(arg) +
                    " (names are lower-case letters, digits and _; write {{ for a literal brace)");
      }
      on_name(name);
      i = close + 1;
    } else {
      on_text(c);
      ++i;
    }
  }
}

}  // namespace

std::vector<std::string> PlaceholderNames(const std::string& arg) {
  std::vector<std::string> names;
  Scan(
      arg, [](char) {}, [&](const std::string& name) { names.push_back(name); });
  return names;
}

std::string Substitute(const std::string& arg, const Vars& vars) {
  std::string out;
  Scan(
      arg, [&](char c) { out.push_back(c); },
      [&](const std::string& name) {
        auto it = vars.find(name);
        if (it == vars.end()) {
          throw Error((IsKnownPlaceholder(name) ? "placeholder {" + name + "} is not available here"
                                                : "unknown placeholder {" + name + "}") +
                      " in argument " + Quoted(arg));
        }
        out += it->second;
      });
  return out;
}

std::vector<std::string> Substitute(const std::vector<std::string>& argv, const Vars& vars) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& arg : argv) out.push_back(Substitute(arg, vars));
  return out;
}

}  // namespace ratchet

#include "harness/kbench_compile.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>

#include "harness/kbench_child.h"
#include "base/error.h"
#include "base/fs.h"

namespace ratchet::kbench {
namespace {

bool IsIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// A value may be a number or a name, nothing that could smuggle code or a
// second flag into the -D argument.
bool IsSafeValue(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-' &&
        c != '+') {
      return false;
    }
  }
  return true;
}

}  // namespace

const char* AbiHeaderText() {
  return
#include "kbench_abi_text.inc"
      ;
}

Defines ParseDefines(const std::string& json_text, const std::string& what) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(what + ": " + e.what());
  }
  if (!j.is_object()) throw Error(what + ": expected a JSON object of tunables");
  Defines defines;
  for (const auto& [key, value] : j.items()) {
    if (!IsIdentifier(key)) throw Error(what + ": " + key + ": not a C identifier");
    std::string text;
    if (value.is_boolean()) {
      text = value.get<bool>() ? "1" : "0";
    } else if (value.is_number_integer() || value.is_number_unsigned()) {
      text = value.dump();
    } else if (value.is_number_float()) {
      text = value.dump();
    } else if (value.is_string()) {
      text = value.get<std::string>();
    } else {
      throw Error(what + ": " + key + ": expected a number, boolean or string, got " +
                  std::string(value.type_name()));
    }
    if (!IsSafeValue(text)) throw Error(what + ": " + key + ": value \"" + text + "\" not allowed");
    defines.emplace_back(key, text);
  }
  return defines;
}

std::string FirstErrorLine(const std::string& compiler_output) {
  std::string first_nonempty;
  size_t pos = 0;
  while (pos < compiler_output.size()) {
    size_t end = compiler_output.find('\n', pos);
    if (end == std::string::npos) end = compiler_output.size();
    const std::string line = compiler_output.substr(pos, end - pos);
    pos = end + 1;
    if (line.find("error:") != std::string::npos || line.find("error -") != std::string::npos) {
      return line;
    }
    if (first_nonempty.empty() && line.find_first_not_of(" \t\r") != std::string::npos) {
      first_nonempty = line;
    }
  }
  return first_nonempty;
}

std::string FlagOverride(const std::string& source_text) {
  // Whitespace-insensitive, so "#pragma  GCC   optimize" is found too.
  static const std::regex kOverride(
      R"(GCC\s+optimize|__attribute__\s*\(\s*\(\s*(__)?optimize|gnu::optimize|clang\s+optimize)");
  std::smatch match;
  if (!std::regex_search(source_text, match, kOverride)) return "";
  const auto line =
      1 + std::count(source_text.begin(), source_text.begin() + match.position(0), '\n');
  return "kernel.cpp:" + std::to_string(line) + ": sets its own optimization options (\"" +
         match.str(0) + "\"); the bench compiles every candidate with the same flags";
}

CompileResult CompileKernel(const CompileRequest& request) {
  namespace fs = std::filesystem;
  const fs::path include_dir = request.work_dir / "include";
  fs::create_directories(include_dir);
  WriteFileAtomic(include_dir / "kbench_abi.h", AbiHeaderText());
  // Compiled under a fixed name so messages read "kernel.cpp:12:3: error: ...".
  const fs::path source = request.work_dir / "kernel.cpp";
  const std::string text = ReadFile(request.source);
  WriteFileAtomic(source, text);

  CompileResult result;
  result.first_error = FlagOverride(text);
  if (!result.first_error.empty()) return result;
  result.shared_object = request.work_dir / "kernel.so";
  result.argv = {request.compiler, "-O3", "-march=native",     "-shared", "-fPIC", "-std=c++20",
                 "-fopenmp",       "-I",  include_dir.string()};
  for (const auto& [name, value] : request.defines)
    result.argv.push_back("-D" + name + "=" + value);
  result.argv.insert(result.argv.end(), {source.string(), "-o", result.shared_object.string()});

  const ChildOutcome outcome = RunCommand(result.argv, request.timeout_seconds);
  result.seconds = outcome.seconds;
  // Paths inside the private folder mean nothing to the reader.
  result.log = outcome.output;
  const std::string prefix = request.work_dir.string() + "/";
  for (size_t at; (at = result.log.find(prefix)) != std::string::npos;) {
    result.log.erase(at, prefix.size());
  }
  result.ok = outcome.Succeeded() && fs::exists(result.shared_object);
  if (!result.ok) {
    result.first_error = FirstErrorLine(result.log);
    if (outcome.kind != ChildOutcome::Kind::kExited || result.first_error.empty()) {
      result.first_error = "compiler " + outcome.Describe() +
                           (result.first_error.empty() ? "" : ": " + result.first_error);
    }
  }
  return result;
}

}  // namespace ratchet::kbench

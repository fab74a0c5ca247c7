// Compiling a candidate kernel with the bench's flags, never its own.
//
// The source is copied into a fresh folder as kernel.cpp next to
// include/kbench_abi.h, and built with
//   c++ -O3 -march=native -shared -fPIC -std=c++20 -fopenmp -I include
//       -DNAME=VALUE... kernel.cpp -o kernel.so
// where the -D values come from the tunables file. The compiler runs as a
// child with a deadline; its output is kept for the first error line.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ratchet::kbench {

using Defines = std::vector<std::pair<std::string, std::string>>;

// Parses a tunables file: one JSON object whose keys are macro names
// (C identifiers) and whose values are numbers, booleans (1/0) or strings made
// of identifier characters, dots, signs and digits. Throws ratchet::Error
// naming `what` (the file) and the bad key otherwise.
Defines ParseDefines(const std::string& json_text, const std::string& what);

// The text of kbench_abi.h, as built into the bench.
const char* AbiHeaderText();

struct CompileRequest {
  std::string compiler = "c++";
  std::filesystem::path source;
  Defines defines;
  std::filesystem::path work_dir;  // Exists and is empty; receives kernel.so.
  double timeout_seconds = 120;
};

struct CompileResult {
  bool ok = false;
  std::filesystem::path shared_object;
  std::vector<std::string> argv;
  std::string log;          // What the compiler printed.
  std::string first_error;  // One line; "" when ok.
  double seconds = 0;
};

// Throws ratchet::Error only when the source cannot be read or the folder
// cannot be written; a failed compile is a CompileResult with ok == false
// (also when the source overrides the bench's flags, see below).
CompileResult CompileKernel(const CompileRequest& request);

// The flags are the bench's: a source that sets its own optimization options
// (#pragma GCC optimize, _Pragma("GCC optimize ..."), the optimize attribute)
// is refused. Returns "kernel.cpp:LINE: ..." naming the first such line, or "".
std::string FlagOverride(const std::string& source_text);

// The first line of compiler output that reports an error ("file:3:5: error:
// ..."), else the first non-empty line, else "".
std::string FirstErrorLine(const std::string& compiler_output);

}  // namespace ratchet::kbench

// Process isolation for ratchet-kbench: the candidate's compiler and the
// candidate's code run in child processes, so a crash, a hang or a stray
// write is that candidate's failure and never the bench's.
//
// A child runs in its own process group (the deadline kills the group), dies
// with the bench (PR_SET_PDEATHSIG), reads /dev/null, and its stdout goes to
// the bench's stderr so the bench's one JSON line on stdout stays clean.
// Results come back through a pipe as framed records.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ratchet::kbench {

struct ChildOutcome {
  enum class Kind { kExited, kSignaled, kTimedOut };
  Kind kind = Kind::kExited;
  int exit_code = -1;  // -1 unless it exited.
  int signal = 0;      // 0 unless a signal ended it.
  double seconds = 0;
  std::string output;  // Everything the child wrote to its pipe.

  bool Succeeded() const { return kind == Kind::kExited && exit_code == 0; }
  // "exit 3", "killed by SIGSEGV", "timed out after 20.0 s".
  std::string Describe() const;
  // Why a child stopped before it was done, for a candidate's report:
  // "hung: timed out after 2.0 s", "crashed: killed by SIGSEGV",
  // "exited early: exit 0".
  std::string DescribeFailure() const;
};

// Forks; the child runs body(write_fd) and exits with its return value (4 if
// it throws). The parent collects what the child writes until it exits, and
// kills its group at the deadline. Throws ratchet::Error if pipe/fork fail.
ChildOutcome RunInChild(const std::function<int(int write_fd)>& body, double timeout_seconds);

// Runs argv (PATH lookup, no shell) with stdout and stderr both captured into
// output (at most max_output bytes kept). exec failure: exit code 127.
ChildOutcome RunCommand(const std::vector<std::string>& argv, double timeout_seconds,
                        size_t max_output = 1 << 20);

// Records: a child writes a sequence of (tag, index, payload) frames.
enum RecordTag : uint32_t {
  kRecordError = 1,       // payload: one line of text (the child could not start).
  kRecordOutput = 2,      // index: case; payload: OutputHeader then the floats.
  kRecordSamples = 3,     // index: bench problem; payload: doubles (seconds per call).
  kRecordCpuSamples = 4,  // index: bench problem; payload: doubles (CPU seconds per call).
  kRecordWrongOutput = 5, // index: bench problem; payload: why a timed call's output was wrong.
};
struct OutputHeader {
  uint32_t call = 0;   // 0 for the first call of a case.
  uint32_t flags = 0;  // kFlag* below.
};
constexpr uint32_t kFlagInputsModified = 1;
constexpr uint32_t kFlagWroteOutside = 2;

struct Record {
  uint32_t tag = 0;
  uint32_t index = 0;
  std::string_view payload;
};
// Writes one frame, retrying partial writes. Returns false if the pipe broke.
bool WriteRecord(int fd, uint32_t tag, uint32_t index, const void* data, uint64_t bytes);
// The complete frames of `bytes` (a truncated last frame is dropped: the
// child died while writing it).
std::vector<Record> ParseRecords(std::string_view bytes);

// dlopens `shared_object` (RTLD_NOW) and returns the address of `symbol`.
// On failure returns nullptr and sets *error to one line.
void* LoadEntry(const std::filesystem::path& shared_object, const std::string& symbol,
                std::string* error);

}  // namespace ratchet::kbench

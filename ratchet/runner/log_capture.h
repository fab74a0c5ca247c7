// A log file with a size cap that keeps both ends of the stream.
//
// A child that floods GBs of output must not fill the disk, yet the first
// lines (configuration, start-up errors) and the last lines (the final metric,
// the crash) are the ones a reader needs. So the first half of the cap is
// written through as it arrives, the last half is kept in memory as a ring
// buffer, and Finish() appends the ring after a line
// `[ratchet: N bytes elided]` when anything had to be dropped. The file never
// grows beyond cap + one marker line.
//
// The file is created at the first byte: a stream that stays empty (most
// stderr streams) leaves no file, which spares the filesystem an inode per
// run; readers treat a missing log as an empty one (ReadLogTail).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace ratchet {

class LogCapture {
 public:
  // Removes an old file at `path` (so no stale output survives), and creates
  // it anew at the first Append; an empty path discards the bytes but still
  // counts them. cap_bytes == 0 means no cap. Throws ratchet::Error naming the
  // path when its folder does not exist or an old file cannot be removed; a
  // file that cannot be created later is a write_error().
  LogCapture(const std::filesystem::path& path, uint64_t cap_bytes);
  ~LogCapture();  // Calls Finish() if it was not called.
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  void Append(std::string_view data);

  // Writes the kept tail (after the marker line if bytes were elided) and
  // closes the file. Idempotent.
  void Finish();

  // Bytes ever passed to Append(), before capping.
  uint64_t total_bytes() const { return total_bytes_; }
  // First write error ("path: cannot write: ..."), or "" when none.
  const std::string& write_error() const { return write_error_; }

 private:
  void Write(std::string_view data);

  std::filesystem::path path_;
  int fd_ = -1;            // -1: not created yet, discarding, or finished.
  uint64_t head_cap_ = 0;  // Bytes written through as they come.
  uint64_t tail_cap_ = 0;  // Size of the ring buffer.
  uint64_t head_written_ = 0;
  uint64_t total_bytes_ = 0;
  bool capped_ = false;  // cap_bytes != 0.
  bool finished_ = false;
  char last_head_byte_ = '\n';
  // Ring of the latest tail_cap_ bytes after the head; allocated only once the
  // head is full, so small runs cost no memory. ring_start_ is the oldest byte
  // once the ring has wrapped (ring_.size() == tail_cap_).
  std::string ring_;
  size_t ring_start_ = 0;
  std::string write_error_;
};

}  // namespace ratchet

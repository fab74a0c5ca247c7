#include "ratchet/runner/log_capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {

LogCapture::LogCapture(const std::filesystem::path& path, uint64_t cap_bytes)
    : path_(path), capped_(cap_bytes != 0) {
  if (capped_) {
    head_cap_ = cap_bytes / 2;
    tail_cap_ = cap_bytes - head_cap_;
  }
  if (path.empty()) return;
  // Unlink rather than truncate: truncating a file with data makes ext4
  // flush it at close (auto_da_alloc).
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error(ErrnoMessage(path, "cannot replace log file"));
  }
  struct stat folder;
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  if (::stat(parent.c_str(), &folder) != 0 || !S_ISDIR(folder.st_mode)) {
    throw Error(path.string() + ": cannot create log file: no folder " + parent.string());
  }
}

LogCapture::~LogCapture() { Finish(); }

void LogCapture::Write(std::string_view data) {
  if (fd_ < 0 && !data.empty() && !path_.empty() && !finished_ && write_error_.empty()) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) write_error_ = ErrnoMessage(path_, "cannot create log file");
  }
  while (fd_ >= 0 && !data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // Keep counting and draining the child's output: a full disk must not
      // block the child, and the run's outcome is still worth recording.
      if (write_error_.empty()) write_error_ = ErrnoMessage(path_, "cannot write");
      return;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void LogCapture::Append(std::string_view data) {
  total_bytes_ += data.size();
  if (!capped_) {
    Write(data);
    return;
  }
  if (head_written_ < head_cap_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), head_cap_ - head_written_));
    Write(data.substr(0, n));
    head_written_ += n;
    if (n > 0) last_head_byte_ = data[n - 1];
    data.remove_prefix(n);
  }
  if (data.empty()) return;

  const size_t tail_cap = static_cast<size_t>(tail_cap_);
  if (data.size() >= tail_cap) {  // The chunk alone replaces the whole ring.
    ring_.assign(data.substr(data.size() - tail_cap));
    ring_start_ = 0;
    return;
  }
  if (ring_.size() < tail_cap) {  // Still filling: plain append.
    if (ring_.capacity() < tail_cap) ring_.reserve(tail_cap);
    size_t fill = std::min(data.size(), tail_cap - ring_.size());
    ring_.append(data.substr(0, fill));
    data.remove_prefix(fill);
  }
  while (!data.empty()) {  // Full: overwrite the oldest bytes.
    size_t n = std::min(data.size(), tail_cap - ring_start_);
    std::memcpy(ring_.data() + ring_start_, data.data(), n);
    ring_start_ = (ring_start_ + n) % tail_cap;
    data.remove_prefix(n);
  }
}

void LogCapture::Finish() {
  if (finished_) return;
  uint64_t elided = total_bytes_ - head_written_ - ring_.size();
  if (capped_ && elided > 0) {
    std::string marker = last_head_byte_ == '\n' ? "" : "\n";
    marker += "[ratchet: " + std::to_string(elided) + " bytes elided]\n";
    Write(marker);
  }
  Write(std::string_view(ring_).substr(ring_start_));
  Write(std::string_view(ring_).substr(0, ring_start_));
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  finished_ = true;
  std::string().swap(ring_);
}

}  // namespace ratchet

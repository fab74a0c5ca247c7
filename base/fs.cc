#include "base/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace ratchet {

std::string ErrnoMessage(const std::filesystem::path& path, std::string_view what) {
  return path.string() + ": " + std::string(what) + ": " + std::strerror(errno);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrnoMessage(path, "cannot open"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(ErrnoMessage(path, "cannot read"));
  return buffer.str();
}

namespace {

void WriteAll(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrnoMessage(path, "cannot write"));
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void FsyncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrnoMessage(dir, "cannot open directory"));
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void WriteFileFresh(const std::filesystem::path& path, std::string_view contents) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error(ErrnoMessage(path, "cannot replace"));
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrnoMessage(path, "cannot create"));
  try {
    WriteAll(fd, contents, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void WriteFileAtomic(const std::filesystem::path& path, std::string_view contents) {
  std::filesystem::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrnoMessage(temp, "cannot create"));
  try {
    WriteAll(fd, contents, temp);
    if (::fsync(fd) != 0) throw Error(ErrnoMessage(temp, "cannot fsync"));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    throw Error(ErrnoMessage(path, "cannot rename into place"));
  }
  FsyncDirectory(path.parent_path());
}

}  // namespace ratchet

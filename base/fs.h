// Small filesystem helpers shared by every module. All throw ratchet::Error
// with a message naming the path and the OS error.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace ratchet {

// Whole file as bytes. Throws if it cannot be opened or read.
std::string ReadFile(const std::filesystem::path& path);

// Durable replace: write a temp file beside `path`, fsync it, rename it over
// `path`, fsync the directory. Readers see the old or the new file, never half.
void WriteFileAtomic(const std::filesystem::path& path, std::string_view contents);

// Replaces `path` by a new file: unlink, then create. Not durable, and
// meant for scratch files that git records anyway (a candidate's config).
// Truncating an existing file instead makes ext4 flush it on close
// (auto_da_alloc), which costs milliseconds per write.
void WriteFileFresh(const std::filesystem::path& path, std::string_view contents);

// "path: strerror(errno)" for the current errno.
std::string ErrnoMessage(const std::filesystem::path& path, std::string_view what);

}  // namespace ratchet

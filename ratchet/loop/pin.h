// Pinning the evaluator: the evaluate command's program, its held-out data and
// every file the spec marks immutable are hashed (SHA-256) at run start,
// recorded with the run (Pins::ToJson in runs.pins_json), and verified before
// every evaluation. A candidate cannot win by changing the ruler.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ratchet {

// Lowercase hex SHA-256 of bytes.
std::string Sha256Hex(std::string_view data);
// Lowercase hex SHA-256 of a file's contents, read in chunks (data files may
// be large). Throws Error naming the file if it cannot be read.
std::string Sha256File(const std::filesystem::path& path);

struct PinnedFile {
  std::string path;    // as given to Compute (a directory's files: dir/relative)
  std::string sha256;  // lowercase hex
  bool operator==(const PinnedFile&) const = default;
};

class Pins {
 public:
  // Hashes each path. A directory is hashed recursively (regular files, in
  // sorted order; symlinks are followed) and remembered as a root, so a file
  // added under it later is caught by Verify. Duplicates are merged.
  // Throws Error naming a path that is missing or unreadable.
  static Pins Compute(const std::vector<std::filesystem::path>& paths);

  // {"version": 1, "files": [{"path", "sha256"}...], "dirs": [...]}
  nlohmann::json ToJson() const;
  // Throws Error naming the key on malformed or unknown-version input.
  static Pins FromJson(const nlohmann::json& json);

  // Re-hashes every pinned file. Throws Error at the first difference:
  //   "evaluator file changed since run start: <path> (sha256 <old12>… -> <new12>…)"
  //   "evaluator file changed since run start: <path> is missing"
  //   "evaluator file changed since run start: <path> was added to <dir>"
  void Verify() const;

  // One SHA-256 over the sorted (path, sha256) pairs. Runs whose digests
  // differ were measured with different evaluators: never compare them.
  std::string Digest() const;

  const std::vector<PinnedFile>& files() const { return files_; }
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  std::vector<PinnedFile> files_;  // sorted by path, unique
  std::vector<std::string> dirs_;  // directory roots, sorted, unique
};

}  // namespace ratchet

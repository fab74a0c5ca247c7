#include "ratchet/loop/pin.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {
namespace {

constexpr std::string_view kChanged = "evaluator file changed since run start: ";

// Incremental SHA-256 over OpenSSL's EVP interface.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw Error("sha256: OpenSSL cannot initialise the digest");
    }
  }
  void Update(const void* data, size_t size) {
    if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) throw Error("sha256: update failed");
  }
  std::string HexDigest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) throw Error("sha256: final failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 0xf];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// Regular files under dir, recursively, sorted.
std::vector<std::filesystem::path> FilesUnder(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  auto options = std::filesystem::directory_options::follow_directory_symlink;
  for (std::filesystem::recursive_directory_iterator it(dir, options, ec), end; it != end;
       it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) out.push_back(it->path());
  }
  if (ec) throw Error(dir.string() + ": cannot list directory to pin it: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string Short(const std::string& hash) { return hash.substr(0, 12) + "\u2026"; }

}  // namespace

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.HexDigest();
}

std::string Sha256File(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrnoMessage(path, "cannot open to hash"));
  Sha256 h;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string message = ErrnoMessage(path, "cannot read to hash");
      ::close(fd);
      throw Error(message);
    }
    if (n == 0) break;
    h.Update(buffer.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return h.HexDigest();
}

Pins Pins::Compute(const std::vector<std::filesystem::path>& paths) {
  std::set<std::string> files;
  std::set<std::string> dirs;
  for (const auto& path : paths) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
      throw Error(path.string() + ": cannot pin evaluator file: it does not exist");
    }
    if (std::filesystem::is_directory(status)) {
      dirs.insert(path.string());
      for (const auto& f : FilesUnder(path)) files.insert(f.string());
    } else {
      files.insert(path.string());
    }
  }
  Pins pins;
  for (const auto& f : files) pins.files_.push_back({f, Sha256File(f)});
  pins.dirs_.assign(dirs.begin(), dirs.end());
  return pins;
}

nlohmann::json Pins::ToJson() const {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : files_) files.push_back({{"path", f.path}, {"sha256", f.sha256}});
  return {{"version", 1}, {"files", files}, {"dirs", dirs_}};
}

Pins Pins::FromJson(const nlohmann::json& json) {
  auto fail = [](const std::string& what) { throw Error("pins json: " + what); };
  if (!json.is_object()) fail("expected an object");
  if (!json.contains("version") || json["version"] != 1) fail("version: expected 1");
  if (!json.contains("files") || !json["files"].is_array()) fail("files: expected an array");
  Pins pins;
  std::set<std::string> seen;
  for (size_t i = 0; i < json["files"].size(); ++i) {
    const auto& f = json["files"][i];
    std::string key = "files[" + std::to_string(i) + "]";
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("sha256") ||
        !f["sha256"].is_string()) {
      fail(key + ": expected {\"path\": string, \"sha256\": string}");
    }
    if (f["sha256"].get<std::string>().size() != 64) fail(key + ".sha256: expected 64 hex digits");
    if (!seen.insert(f["path"].get<std::string>()).second) fail(key + ".path: duplicate");
    pins.files_.push_back({f["path"].get<std::string>(), f["sha256"].get<std::string>()});
  }
  if (json.contains("dirs")) {
    if (!json["dirs"].is_array()) fail("dirs: expected an array");
    for (const auto& d : json["dirs"]) {
      if (!d.is_string()) fail("dirs: expected strings");
      pins.dirs_.push_back(d.get<std::string>());
    }
  }
  std::sort(pins.files_.begin(), pins.files_.end(),
            [](const PinnedFile& a, const PinnedFile& b) { return a.path < b.path; });
  std::sort(pins.dirs_.begin(), pins.dirs_.end());
  return pins;
}

void Pins::Verify() const {
  for (const auto& f : files_) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(f.path, ec)) {
      throw Error(std::string(kChanged) + f.path + " is missing");
    }
    std::string now = Sha256File(f.path);
    if (now != f.sha256) {
      throw Error(std::string(kChanged) + f.path + " (sha256 " + Short(f.sha256) + " -> " +
                  Short(now) + ")");
    }
  }
  // A file dropped into a pinned data folder changes what the evaluator sees.
  for (const auto& dir : dirs_) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw Error(std::string(kChanged) + dir + " is missing");
    for (const auto& f : FilesUnder(dir)) {
      bool known = std::binary_search(
          files_.begin(), files_.end(), PinnedFile{f.string(), ""},
          [](const PinnedFile& a, const PinnedFile& b) { return a.path < b.path; });
      if (!known) throw Error(std::string(kChanged) + f.string() + " was added to " + dir);
    }
  }
}

std::string Pins::Digest() const {
  // files_ is sorted by path, so the order paths were given in does not matter.
  std::string canonical;
  for (const auto& f : files_) canonical += f.path + '\0' + f.sha256 + '\n';
  return Sha256Hex(canonical);
}

}  // namespace ratchet

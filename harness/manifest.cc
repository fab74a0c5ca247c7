#include "harness/manifest.h"

#include <openssl/evp.h>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {

std::array<unsigned char, 32> Sha256(std::string_view bytes) {
  std::array<unsigned char, 32> digest;
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size()) {
    throw Error("sha256: OpenSSL EVP_Digest failed");
  }
  return digest;
}

std::string Sha256Hex(std::string_view bytes) {
  const auto digest = Sha256(bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest.size());
  for (std::size_t i = 0; i < digest.size(); ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

nlohmann::json ReadManifest(const std::filesystem::path& data_dir) {
  const std::filesystem::path path = data_dir / kManifestFile;
  if (!std::filesystem::exists(path)) {
    throw Error(path.string() + ": no manifest (run ratchet-prepare --out " + data_dir.string() +
                ")");
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(ReadFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  if (!manifest.is_object() || manifest.value("version", 0) != kManifestVersion) {
    throw Error(path.string() + ": unknown manifest version (expected " +
                std::to_string(kManifestVersion) + ")");
  }
  if (!manifest.contains("files") || !manifest["files"].is_object()) {
    throw Error(path.string() + ": manifest has no \"files\" object");
  }
  return manifest;
}

std::string ReadVerified(const std::filesystem::path& data_dir, const nlohmann::json& manifest,
                         const std::string& name) {
  const std::filesystem::path manifest_path = data_dir / kManifestFile;
  const std::filesystem::path path = data_dir / name;
  const auto& files = manifest["files"];
  if (!files.contains(name) || !files[name].is_object() || !files[name].contains("sha256") ||
      !files[name]["sha256"].is_string()) {
    throw Error(manifest_path.string() + ": no sha256 for " + name);
  }
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": missing (see manifest)");
  std::string bytes = ReadFile(path);
  const std::string expected = files[name]["sha256"].get<std::string>();
  const std::string actual = Sha256Hex(bytes);
  if (actual != expected) {
    throw Error(path.string() + ": SHA-256 " + actual + " does not match manifest " + expected);
  }
  return bytes;
}

}  // namespace ratchet

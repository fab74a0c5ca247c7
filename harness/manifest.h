// The data manifest written by ratchet-prepare and checked by ratchet-eval.
//
// DIR/manifest.json names the two split files with their sizes and SHA-256
// sums, the split rule and the source. The evaluator trusts val.bin only after
// its bytes hash to the manifest's sum, so a changed or truncated held-out file
// can never silently move the metric.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ratchet {

inline constexpr int kManifestVersion = 1;
inline constexpr const char* kTrainFile = "train.bin";
inline constexpr const char* kValFile = "val.bin";
inline constexpr const char* kManifestFile = "manifest.json";

// SHA-256 of `bytes`, raw and as lower-case hex.
std::array<unsigned char, 32> Sha256(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);

// DIR/manifest.json parsed. Throws ratchet::Error naming the file when it is
// missing, not JSON, of an unknown version, or lacks a files entry.
nlohmann::json ReadManifest(const std::filesystem::path& data_dir);

// Reads DIR/<name> and checks its size and SHA-256 against the manifest.
// Returns the bytes. Throws ratchet::Error naming the file on any mismatch.
std::string ReadVerified(const std::filesystem::path& data_dir, const nlohmann::json& manifest,
                         const std::string& name);

}  // namespace ratchet

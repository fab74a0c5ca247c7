#include "trainer/checkpoint.h"

#include <openssl/evp.h>

#include <bit>
#include <cstring>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet::train {

static_assert(std::endian::native == std::endian::little, "checkpoints are little-endian");

namespace {

constexpr size_t kFixedHeader = 8 + 4 + 4 + 8;  // magic, version, reserved, header length
constexpr size_t kAlign = 64;
constexpr size_t kDigest = 32;

// SHA-256 through OpenSSL's EVP interface (one call; no dependency on ratchet/pin).
std::string Sha256(const char* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) != 1 || length != kDigest) {
    throw Error("checkpoint: SHA-256 failed in OpenSSL");
  }
  return std::string(reinterpret_cast<char*>(digest), kDigest);
}

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
T Get(const std::string& in, size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

nlohmann::json TensorsJson(const std::vector<TensorInfo>& layout) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : layout) {
    tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"offset", t.offset * sizeof(float)}});
  }
  return tensors;
}

}  // namespace

std::string SerializeCheckpoint(const Model& model, const nlohmann::json& meta) {
  nlohmann::json header = {{"config", ToJson(model.config())},
                           {"tensors", TensorsJson(model.tensors())},
                           {"meta", meta}};
  std::string header_text = header.dump();
  std::string out;
  size_t data_bytes = model.num_params() * sizeof(float);
  out.reserve(kFixedHeader + header_text.size() + kAlign + data_bytes + kDigest);
  out.append(kCheckpointMagic, sizeof(kCheckpointMagic));
  Put<uint32_t>(out, kCheckpointVersion);
  Put<uint32_t>(out, 0);
  Put<uint64_t>(out, header_text.size());
  out += header_text;
  out.append((kAlign - out.size() % kAlign) % kAlign, '\0');
  out.append(reinterpret_cast<const char*>(model.params()), data_bytes);
  out += Sha256(out.data(), out.size());
  return out;
}

void SaveCheckpoint(const std::string& path, const Model& model, const nlohmann::json& meta) {
  WriteFileAtomic(path, SerializeCheckpoint(model, meta));
}

LoadedCheckpoint ParseCheckpoint(const std::string& bytes, const std::string& path) {
  auto fail = [&](const std::string& problem) -> Error { return Error(path + ": " + problem); };
  if (bytes.size() < sizeof(kCheckpointMagic) ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) != 0) {
    throw fail("not a ratchet checkpoint (bad magic)");
  }
  if (bytes.size() < kFixedHeader) throw fail("truncated checkpoint (no header)");
  uint32_t version = Get<uint32_t>(bytes, 8);
  if (version != kCheckpointVersion) {
    throw fail("unsupported checkpoint version " + std::to_string(version) + " (this reader knows " +
               std::to_string(kCheckpointVersion) + ")");
  }
  uint64_t header_length = Get<uint64_t>(bytes, 16);
  if (header_length > bytes.size() || kFixedHeader + header_length + kDigest > bytes.size()) {
    throw fail("truncated checkpoint (header of " + std::to_string(header_length) +
               " bytes does not fit in " + std::to_string(bytes.size()) + ")");
  }
  size_t data_start = kFixedHeader + header_length;
  data_start += (kAlign - data_start % kAlign) % kAlign;
  auto checksum_ok = [&] {
    return Sha256(bytes.data(), bytes.size() - kDigest) == bytes.substr(bytes.size() - kDigest);
  };
  LoadedCheckpoint out;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(kFixedHeader, header_length));
    if (!header.is_object() || !header.contains("config") || !header.contains("tensors")) {
      throw fail("header/tensor mismatch: header lacks config or tensors");
    }
    out.config = ParseConfig(header["config"], path + " (config)");
  } catch (const std::exception& e) {
    // A damaged header usually means a damaged file: say corrupt if the sum says so.
    if (!checksum_ok()) throw fail("corrupt checkpoint (checksum mismatch)");
    if (dynamic_cast<const Error*>(&e)) throw;
    throw fail(std::string("unreadable checkpoint header: ") + e.what());
  }
  out.tensors = ParamLayout(out.config);
  size_t numel = out.tensors.empty() ? 0 : out.tensors.back().offset + out.tensors.back().numel;
  size_t expected_size = data_start + numel * sizeof(float) + kDigest;
  if (bytes.size() < expected_size) {
    throw fail("truncated checkpoint (" + std::to_string(bytes.size()) + " bytes, expected " +
               std::to_string(expected_size) + ")");
  }
  if (bytes.size() > expected_size) {
    throw fail("header/tensor mismatch: " + std::to_string(bytes.size() - expected_size) +
               " bytes more than the tensors need");
  }
  if (!checksum_ok()) {
    throw fail("corrupt checkpoint (checksum mismatch)");
  }
  if (header["tensors"] != TensorsJson(out.tensors)) {
    throw fail("header/tensor mismatch: tensor list differs from the layout of its config");
  }
  out.params.resize(numel);
  std::memcpy(out.params.data(), bytes.data() + data_start, numel * sizeof(float));
  out.meta = header.value("meta", nlohmann::json::object());
  return out;
}

LoadedCheckpoint LoadCheckpoint(const std::string& path) {
  return ParseCheckpoint(ReadFile(path), path);
}

void CopyParams(const LoadedCheckpoint& checkpoint, Model& model) {
  if (checkpoint.params.size() != model.num_params() ||
      TensorsJson(checkpoint.tensors) != TensorsJson(model.tensors())) {
    throw Error("checkpoint: parameter layout differs from the model's (" +
                std::to_string(checkpoint.params.size()) + " vs " +
                std::to_string(model.num_params()) + " floats)");
  }
  std::memcpy(model.params(), checkpoint.params.data(), model.num_params() * sizeof(float));
}

}  // namespace ratchet::train

// The checkpoint file of trainer/MODEL.md:
//   "RCHTCKPT", uint32 version = 1, uint32 0, uint64 header length,
//   header JSON {"config", "tensors", "meta"}, zero padding to a multiple of 64
//   bytes, float32 tensors (the parameter arena), 32-byte SHA-256 of every byte
//   before it. Little-endian. Written atomically (temp, fsync, rename).
// The reader refuses, with a one-line ratchet::Error naming the file:
//   "<path>: not a ratchet checkpoint" (magic), "<path>: unsupported checkpoint
//   version N", "<path>: truncated ...", "<path>: corrupt (checksum mismatch)",
//   "<path>: header/tensor mismatch: ..." (tensor list differs from the
//   layout its own config implies, or the data size is wrong).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/config.h"
#include "trainer/model.h"

namespace ratchet::train {

inline constexpr char kCheckpointMagic[8] = {'R', 'C', 'H', 'T', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 1;

struct LoadedCheckpoint {
  Config config;
  std::vector<TensorInfo> tensors;  // == ParamLayout(config)
  std::vector<float> params;        // the parameter arena, ParamLayout order
  nlohmann::json meta;              // {"step", "tokens", "seed", "train_loss", ...}
};

// The whole file as bytes (exposed for tests and tools).
std::string SerializeCheckpoint(const Model& model, const nlohmann::json& meta);

// REQUIRES: meta is a JSON object.
void SaveCheckpoint(const std::string& path, const Model& model, const nlohmann::json& meta);

// Throws ratchet::Error (see above). `path` is used in messages.
LoadedCheckpoint ParseCheckpoint(const std::string& bytes, const std::string& path);
LoadedCheckpoint LoadCheckpoint(const std::string& path);

// Copies the checkpoint's parameters into a model built from the same config.
// Throws ratchet::Error if the layouts differ.
void CopyParams(const LoadedCheckpoint& checkpoint, Model& model);

}  // namespace ratchet::train

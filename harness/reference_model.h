// The naive reference forward pass of the tinygpt model, used by
// `ratchet-eval --cross-check` to catch a fast path that computes the wrong
// thing. It is written from the model contract (MODEL.md in the brief: byte
// vocab, pre-norm blocks, weights stored [in, out]) with plain loops and double
// accumulation, shares no code with the trainer's kernels, and reads its
// weights by tensor name, so a mix-up in the trainer's arena layout shows up
// as a disagreement instead of being reproduced.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace ratchet {

// One named float32 tensor, row-major.
struct RefTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
using RefTensors = std::map<std::string, RefTensor>;

// The shape-related keys of a checkpoint's config, read from its JSON.
struct RefConfig {
  int n_layer = 0, n_embd = 0, n_head = 0, seq_len = 0;
  double mlp_ratio = 4.0;
  std::string activation = "gelu";  // gelu | relu2 | swiglu
  std::string norm = "layernorm";   // layernorm | rmsnorm
  std::string pos = "learned";      // learned | rope
  double rope_base = 10000.0;
  bool tie_embeddings = false;
  bool qk_norm = false;
  double logit_softcap = 0.0;

  int hidden() const;  // H = round(mlp_ratio * n_embd)
};

// Throws ratchet::Error naming the key when a value is missing or unknown.
RefConfig ParseRefConfig(const nlohmann::json& config);

class ReferenceModel {
 public:
  static constexpr int kVocab = 256;

  // Checks that every tensor the config implies is present with its shape.
  // Throws ratchet::Error naming the tensor otherwise.
  ReferenceModel(const RefConfig& config, RefTensors tensors);

  // Logits, row-major [T, 256], of one sequence; position t sees tokens[0..t].
  // REQUIRES: 1 <= tokens.size() <= seq_len.
  std::vector<double> Logits(std::span<const std::uint8_t> tokens) const;

  // Per position t: -ln softmax(logits[t])[targets[t]], in nats.
  // REQUIRES: inputs.size() == targets.size().
  std::vector<double> Nll(std::span<const std::uint8_t> inputs,
                          std::span<const std::uint8_t> targets) const;
  // The sum of Nll.
  double SumNll(std::span<const std::uint8_t> inputs, std::span<const std::uint8_t> targets) const;

  const RefConfig& config() const { return config_; }
  // Test hook: lets a test perturb a weight to prove a cross-check can fail.
  RefTensors& mutable_tensors() { return tensors_; }

 private:
  const RefTensor& Get(const std::string& name) const;

  RefConfig config_;
  RefTensors tensors_;
};

}  // namespace ratchet

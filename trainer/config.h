// The model and training configuration read from train.json (see
// trainer/MODEL.md). Every key is a mutation target of the ratchet, so the
// parser is strict: an unknown key, a wrong type, an impossible shape or an
// out-of-range value is a ratchet::Error whose one-line message names the
// origin (file) and the key, e.g.
//   "train.json: n_head: n_embd 100 is not divisible by n_head 3".
// ToJson writes every key with its default filled in; ParseConfig(ToJson(c))
// gives back c exactly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trainer/precision.h"

namespace ratchet::train {

enum class Activation { kGelu, kRelu2, kSwiglu };
enum class NormKind { kLayerNorm, kRmsNorm };
enum class PosKind { kLearned, kRope };
enum class OptimizerKind { kAdamW, kMuon };
enum class ScheduleKind { kCosine, kLinear, kWsd, kConstant };


struct Config {
  // Shape.
  int n_layer = 4;
  int n_embd = 128;
  int n_head = 4;
  double mlp_ratio = 4.0;  // hidden width H = round(mlp_ratio * n_embd)
  Activation activation = Activation::kGelu;
  NormKind norm = NormKind::kLayerNorm;
  PosKind pos = PosKind::kLearned;
  double rope_base = 10000.0;  // used when pos = rope
  bool tie_embeddings = false;
  bool qk_norm = false;
  double logit_softcap = 0.0;  // 0 = off; else logits = cap * tanh(logits / cap)

  // Batch: one optimizer step sees batch_size * seq_len * grad_accum tokens.
  int seq_len = 128;
  int batch_size = 16;
  int grad_accum = 1;

  // Optimizer. Learning rates by parameter group:
  //   embed_lr  -> wte, wpe (and the tied head, which is wte)
  //   matrix_lr -> hidden matrices attn.wqkv, attn.wo, mlp.wfc, mlp.wproj
  //   lr        -> everything else (norm gains/biases, lm_head)
  // When absent from train.json, embed_lr = lr and matrix_lr = lr under adamw
  // or 0.02 under muon (Muon's updates have unit RMS-ish scale, so its rate
  // lives on another scale); ToJson writes the resolved values.
  OptimizerKind optimizer = OptimizerKind::kAdamW;
  double lr = 1e-3;
  double embed_lr = 1e-3;
  double matrix_lr = 1e-3;
  double weight_decay = 0.1;  // decoupled; 2-D hidden matrices and lm_head only
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;  // max global L2 norm of the gradient; 0 = off
  double init_std = 0.02;
  double muon_momentum = 0.95;  // nesterov momentum of Muon
  int muon_ns_steps = 5;        // Newton-Schulz iterations of Muon

  // Schedule of the learning-rate multiplier over the budget progress p in [0,1]
  // (see schedule.h).
  ScheduleKind schedule = ScheduleKind::kCosine;
  double warmup_frac = 0.05;
  double cooldown_frac = 0.2;  // wsd: length of the final linear decay
  double min_lr_frac = 0.0;    // multiplier reached at the end of the decay

  // Operands of the weight products in training (forward, both gradients,
  // the head). bf16: rounded to bf16, summed in f32; master weights,
  // optimizer state, attention, norms, softmax and loss stay FP32, and so
  // does evaluation. Needs a CPU with avx512_bf16, checked by the trainer on
  // entry (not here: a bf16 checkpoint is still readable anywhere).
  Precision precision = Precision::kFp32;

  // Derived sizes.
  int head_size() const { return n_embd / n_head; }
  int mlp_hidden() const;  // H = round(mlp_ratio * n_embd)
  int tokens_per_step() const { return batch_size * seq_len * grad_accum; }
};

// REQUIRES: j is the parsed train.json. `origin` names it in error messages.
// Throws ratchet::Error "<origin>: <key>: <problem>".
Config ParseConfig(const nlohmann::json& j, std::string_view origin);

// Reads and parses a file; JSON syntax errors name the file and byte position.
Config LoadConfigFile(const std::string& path);

// Every key, defaults filled in (enums as their train.json strings).
nlohmann::json ToJson(const Config& config);

// Names as written in train.json ("gelu", "rmsnorm", ...).
std::string_view ToString(Activation a);
std::string_view ToString(NormKind n);
std::string_view ToString(PosKind p);
std::string_view ToString(OptimizerKind o);
std::string_view ToString(ScheduleKind s);
std::string_view ToString(Precision p);

}  // namespace ratchet::train

// The tinygpt model of trainer/MODEL.md: a byte-level pre-norm GPT in FP32.
//
// Memory: one contiguous parameter arena (tensors in MODEL.md order, see
// ParamLayout), a twin gradient arena of the same layout (training only), and
// one activation arena sized for (batch, seq) at construction. Nothing is
// allocated after the constructor: the forward and backward passes only write
// into these arenas (tests/trainer/no_alloc_test.cc checks it).
//
// Threads: the kernels use OpenMP and the BLAS; the caller picks the count
// (omp_set_num_threads) before building the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trainer/config.h"
#include "trainer/huge_pages.h"

namespace ratchet::train {

// How the optimizers treat a tensor.
enum class ParamGroup {
  kEmbedding,  // wte, wpe: embed_lr, AdamW, no weight decay
  kMatrix,     // attn.wqkv, attn.wo, mlp.wfc, mlp.wproj: matrix_lr, Muon under muon
  kHead,       // lm_head: lr, AdamW, weight decay
  kNorm,       // *.g, *.b: lr, AdamW, no weight decay
};

struct TensorInfo {
  std::string name;         // "h0.attn.wqkv"
  std::vector<int> shape;   // [rows, cols] for matrices, [C] for gains
  size_t offset = 0;        // in floats from the start of the arena
  size_t numel = 0;
  ParamGroup group = ParamGroup::kNorm;
};

// The tensors of `config` in arena order, offsets packed with no gaps.
std::vector<TensorInfo> ParamLayout(const Config& config);

// Model FLOPs per trained token (forward + backward): 6 * (matmul parameters,
// the head counted even when tied) + 6 * n_layer * seq_len * n_embd for the
// causal attention products (QKᵀ and AV, each 2*T*C/2 per token forward).
double TrainFlopsPerToken(const Config& config);

// Seconds spent per kind of op, filled when profiling is switched on
// (attention includes qk_norm and rope; loss includes the softcap; data is
// batch sampling; optimizer includes clipping).
struct OpTimes {
  double matmul = 0, attention = 0, norm = 0, activation = 0, residual = 0, embedding = 0,
         loss = 0, optimizer = 0, data = 0;
};

class Model {
 public:
  // REQUIRES: config came from ParseConfig; 1 <= batch; 1 <= seq <= config.seq_len.
  // training = false: no gradient arena, and the backward is unavailable.
  // Parameters start at zero; call InitParams or write params().
  Model(const Config& config, int batch, int seq, bool training);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Config& config() const { return config_; }
  int batch() const { return batch_; }
  int seq() const { return seq_; }
  bool training() const { return training_; }

  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }  // nullptr unless training
  size_t num_params() const { return params_.size(); }
  const std::vector<TensorInfo>& tensors() const { return layout_; }
  // Throws ratchet::Error if the config has no tensor of that name.
  const TensorInfo& tensor(std::string_view name) const;
  float* param(std::string_view name) { return params() + tensor(name).offset; }

  // GPT-2 style: matrices and embeddings ~ N(0, init_std), the residual
  // projections (attn.wo, mlp.wproj) scaled by 1/sqrt(2*n_layer), gains 1,
  // biases 0. Deterministic in seed.
  void InitParams(uint64_t seed);

  void ZeroGrads();

  // One micro-batch: forward, then backward ADDING d(grad_scale * mean loss)
  // into grads(). Returns the mean cross-entropy (nats) of the micro-batch.
  // REQUIRES: grad_scale != 0.
  // REQUIRES: training; B <= batch(); T <= seq(); inputs and targets [B*T].
  float ForwardBackward(const uint8_t* inputs, const uint8_t* targets, int B, int T,
                        float grad_scale);

  // Mean cross-entropy without touching grads.
  float ForwardLoss(const uint8_t* inputs, const uint8_t* targets, int B, int T);

  // Per-position cross-entropy in nats: nll[b*T + t] = -log p(targets[b,t] |
  // inputs[b, 0..t]). REQUIRES: B <= batch(); T <= seq(). Usable in both modes.
  void ForwardNll(const uint8_t* inputs, const uint8_t* targets, int B, int T, float* nll);

  // When non-null, forward/backward add their per-op wall time here.
  void set_profile(OpTimes* times) { times_ = times; }

 private:
  struct Buffers;  // the activation arena, laid out in model.cc

  // Runs the forward; returns the mean loss and fills nll if non-null. With
  // grad_scale != 0 (training) it also writes d(grad_scale * loss)/dlogits.
  float Forward(const uint8_t* inputs, const uint8_t* targets, int B, int T, float* nll,
                float grad_scale);
  // REQUIRES: the Forward just before ran with grad_scale != 0 on the same B, T.
  void Backward(int B, int T);

  Config config_;
  int batch_, seq_;
  bool training_;
  std::vector<TensorInfo> layout_;
  HugePageFloats params_;
  HugePageFloats grads_;
  std::unique_ptr<Buffers> buf_;
  OpTimes* times_ = nullptr;
};

}  // namespace ratchet::train

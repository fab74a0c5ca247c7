#include "trainer/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "base/error.h"
#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/ops_math.h"

namespace ratchet::train {

// Size letters: B batch, T time, C n_embd, NH n_head, hs head size, H mlp
// hidden, Hu = H (gelu, relu2) or 2H (swiglu) the width of mlp.wfc's output,
// V = 256, L n_layer, N = B*T rows.
namespace {

constexpr int V = 256;

int UpWidth(const Config& c) {
  return c.activation == Activation::kSwiglu ? 2 * c.mlp_hidden() : c.mlp_hidden();
}

// Adds the wall time of its scope to *slot (no-op when slot is null).
class ScopedTimer {
 public:
  explicit ScopedTimer(double* slot) : slot_(slot) {
    if (slot_) start_ = std::chrono::steady_clock::now();
  }
  ~ScopedTimer() {
    if (slot_) {
      *slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
  }

 private:
  double* slot_;
  std::chrono::steady_clock::time_point start_;
};

// Portable N(0,1) from a 64-bit generator (Box-Muller): the same numbers on
// every standard library, unlike std::normal_distribution.
double Gaussian(std::mt19937_64& rng) {
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
  double u1 = ((rng() >> 11) + 0.5) * kScale;
  double u2 = ((rng() >> 11) + 0.5) * kScale;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

std::vector<TensorInfo> ParamLayout(const Config& c) {
  const int C = c.n_embd, H = c.mlp_hidden();
  const bool ln = c.norm == NormKind::kLayerNorm;
  std::vector<TensorInfo> out;
  size_t offset = 0;
  auto add = [&](std::string name, std::vector<int> shape, ParamGroup group) {
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(d);
    out.push_back({std::move(name), std::move(shape), offset, n, group});
    offset += n;
  };
  add("wte", {V, C}, ParamGroup::kEmbedding);
  if (c.pos == PosKind::kLearned) add("wpe", {c.seq_len, C}, ParamGroup::kEmbedding);
  for (int l = 0; l < c.n_layer; ++l) {
    std::string p = "h" + std::to_string(l) + ".";
    add(p + "ln1.g", {C}, ParamGroup::kNorm);
    if (ln) add(p + "ln1.b", {C}, ParamGroup::kNorm);
    add(p + "attn.wqkv", {C, 3 * C}, ParamGroup::kMatrix);
    add(p + "attn.wo", {C, C}, ParamGroup::kMatrix);
    add(p + "ln2.g", {C}, ParamGroup::kNorm);
    if (ln) add(p + "ln2.b", {C}, ParamGroup::kNorm);
    add(p + "mlp.wfc", {C, UpWidth(c)}, ParamGroup::kMatrix);
    add(p + "mlp.wproj", {H, C}, ParamGroup::kMatrix);
  }
  add("lnf.g", {C}, ParamGroup::kNorm);
  if (ln) add("lnf.b", {C}, ParamGroup::kNorm);
  if (!c.tie_embeddings) add("lm_head", {C, V}, ParamGroup::kHead);
  return out;
}

double TrainFlopsPerToken(const Config& c) {
  const double C = c.n_embd, H = c.mlp_hidden(), Hu = UpWidth(c);
  double matmul_params = c.n_layer * (C * 3 * C + C * C + C * Hu + H * C) + C * V;
  return 6.0 * matmul_params + 6.0 * c.n_layer * c.seq_len * C;
}

// The activation arena. Per-layer buffers have L copies in training (the
// backward needs them) and one copy in inference (reused layer after layer).
struct Model::Buffers {
  HugePageFloats arena;
  std::vector<int32_t> tokens, targets;  // [N]
  // Forward, per layer ([copies][...]).
  float* res = nullptr;       // [L+1 or 2][N,C] residual stream entering layer l (res[L]: final)
  float* mid = nullptr;       // [copies][N,C]   residual after the attention block
  float* ln1 = nullptr;       // [copies][N,C]
  float* ln1_mean = nullptr;  // [copies][N]
  float* ln1_rstd = nullptr;  // [copies][N]
  float* qkv_raw = nullptr;   // [copies][N,3C]  h · wqkv
  float* qkv_post = nullptr;  // [copies][N,3C]  after qk_norm (+rope); only with qk_norm
  float* qk_rstd = nullptr;   // [copies][N,2,NH]; only with qk_norm
  float* att = nullptr;       // [copies][B,NH,T,T]; under bf16 p as bf16 (attention_forward_bf16)
  float* atty = nullptr;      // [copies][N,C]
  float* ln2 = nullptr;       // [copies][N,C]; not under bf16 (ln2_16 instead), as ln1, lnf
  float* ln2_mean = nullptr;  // [copies][N]
  float* ln2_rstd = nullptr;  // [copies][N]
  float* up = nullptr;        // [copies][N,Hu]
  float* act = nullptr;       // [copies][N,H]; not under bf16 with gelu (act16 instead)
  float* lnf = nullptr;       // [N,C]
  float* lnf_mean = nullptr;  // [N]
  float* lnf_rstd = nullptr;  // [N]
  float* logits = nullptr;    // [N,V] (after softcap)
  float* losses = nullptr;    // [N]
  float* rope_cos = nullptr;  // [seq, hs/2]
  float* rope_sin = nullptr;  // [seq, hs/2]
  // Backward scratch (training only), reused by every layer.
  float* dres = nullptr;      // [N,C] gradient of the residual stream
  float* dln = nullptr;       // [N,C]
  float* datty = nullptr;     // [N,C]
  float* dqkv = nullptr;      // [N,3C]
  float* dqkv2 = nullptr;     // [N,3C]
  float* dup = nullptr;       // [N,Hu]
  float* dact = nullptr;      // [N,H], dup's memory unless swiglu: gelu/relu2 backward in place
  float* dlogits = nullptr;   // [N,V]
  float* dlogits_raw = nullptr;  // [N,V] (softcap only)
  // bf16 copies (training under "precision": "bf16" only). Each operand of a
  // weight product is rounded once per micro-batch and the copy read by
  // every product of it: an input by the forward and the weight gradient, a
  // weight by the forward and the input gradient, an output gradient by
  // both backward products (gemm_bf16.h).
  std::vector<uint16_t, HugePageAllocator<uint16_t>> arena16;
  uint16_t* w16 = nullptr;     // [num_params] the matrices' copies at their params offsets
  uint16_t* ln1_16 = nullptr;  // [copies][N,C]
  uint16_t* atty16 = nullptr;  // [copies][N,C]
  uint16_t* ln2_16 = nullptr;  // [copies][N,C]
  uint16_t* act16 = nullptr;   // [copies][N,H]
  uint16_t* lnf16 = nullptr;   // [N,C]
  uint16_t* dout16 = nullptr;  // [N, max(C, 3C, Hu, V)] the output gradient of one product
  // Sizes of one copy, for indexing.
  size_t nc = 0, n = 0, nqkv = 0, nrstd = 0, natt = 0, nup = 0, nact = 0;
  int copies = 1;
};

Model::Model(const Config& config, int batch, int seq, bool training)
    : config_(config), batch_(batch), seq_(seq), training_(training) {
  if (batch < 1 || seq < 1 || seq > config.seq_len) {
    throw Error("model: batch " + std::to_string(batch) + " x seq " + std::to_string(seq) +
                " does not fit seq_len " + std::to_string(config.seq_len));
  }
  layout_ = ParamLayout(config_);
  params_.assign(layout_.back().offset + layout_.back().numel, 0.0f);
  if (training_) grads_.assign(params_.size(), 0.0f);

  const Config& c = config_;
  const size_t N = static_cast<size_t>(batch) * seq, C = c.n_embd, NH = c.n_head;
  const size_t L = c.n_layer, H = c.mlp_hidden(), Hu = UpWidth(c);
  buf_ = std::make_unique<Buffers>();
  Buffers& b = *buf_;
  b.tokens.assign(N, 0);
  b.targets.assign(N, 0);
  b.copies = training_ ? static_cast<int>(L) : 1;
  b.nc = N * C;
  b.n = N;
  b.nqkv = N * 3 * C;
  b.nrstd = N * 2 * NH;
  b.nup = N * Hu;
  b.nact = N * H;
  const size_t k = b.copies;
  const size_t res_copies = training_ ? L + 1 : 2;
  const bool qkn = c.qk_norm;
  const bool swiglu = c.activation == Activation::kSwiglu;
  const size_t half = c.head_size() / 2;
  // Under bf16 the norms (and GELU) write their outputs rounded, straight
  // into the bf16 copies (plan16): their fp32 buffers stay unallocated, and
  // a null buffer is what tells Forward to write the rounded form.
  const bool rounded_out = training_ && c.precision == Precision::kBf16;
  const bool rounded_act = rounded_out && c.activation == Activation::kGelu;
  // bf16 attention keeps its probabilities as bf16 (attention_forward_bf16).
  b.natt = rounded_out ? attention_bf16_probs_size(batch, seq, NH) / 2
                       : static_cast<size_t>(batch) * NH * seq * seq;
  // (pointer, floats) in arena order; offsets assigned after sizing.
  std::vector<std::pair<float**, size_t>> plan = {
      {&b.res, res_copies * b.nc},
      {&b.mid, k * b.nc},
      {&b.ln1, rounded_out ? 0 : k * b.nc},
      {&b.ln1_mean, k * N},
      {&b.ln1_rstd, k * N},
      {&b.qkv_raw, k * b.nqkv},
      {&b.qkv_post, qkn ? k * b.nqkv : 0},
      {&b.qk_rstd, qkn ? k * b.nrstd : 0},
      {&b.att, k * b.natt},
      {&b.atty, k * b.nc},
      {&b.ln2, rounded_out ? 0 : k * b.nc},
      {&b.ln2_mean, k * N},
      {&b.ln2_rstd, k * N},
      {&b.up, k * b.nup},
      {&b.act, rounded_act ? 0 : k * b.nact},
      {&b.lnf, rounded_out ? 0 : b.nc},
      {&b.lnf_mean, N},
      {&b.lnf_rstd, N},
      {&b.logits, N * V},
      {&b.losses, N},
      {&b.rope_cos, c.pos == PosKind::kRope ? seq * half : 0},
      {&b.rope_sin, c.pos == PosKind::kRope ? seq * half : 0},
  };
  if (training_) {
    plan.insert(plan.end(), {{&b.dres, b.nc},
                             {&b.dln, b.nc},
                             {&b.datty, b.nc},
                             {&b.dqkv, b.nqkv},
                             {&b.dqkv2, b.nqkv},
                             {&b.dup, b.nup},
                             {&b.dact, swiglu ? b.nact : 0},
                             {&b.dlogits, N * V},
                             {&b.dlogits_raw, c.logit_softcap > 0 ? N * V : 0}});
  }
  size_t total = 0;
  for (auto& [ptr, size] : plan) total += (size + 15) / 16 * 16;  // 64-byte aligned pieces
  b.arena.assign(total, 0.0f);
  size_t at = 0;
  for (auto& [ptr, size] : plan) {
    *ptr = size ? b.arena.data() + at : nullptr;
    at += (size + 15) / 16 * 16;
  }
  if (training_ && !swiglu) b.dact = b.dup;
  if (training_ && c.precision == Precision::kBf16) {
    const size_t widest = std::max({3 * C, Hu, static_cast<size_t>(V)});
    std::vector<std::pair<uint16_t**, size_t>> plan16 = {
        {&b.w16, params_.size()}, {&b.ln1_16, k * b.nc},  {&b.atty16, k * b.nc},
        {&b.ln2_16, k * b.nc},    {&b.act16, k * b.nact}, {&b.lnf16, b.nc},
        {&b.dout16, N * widest}};
    size_t total16 = 0;
    for (auto& [ptr, size] : plan16) total16 += (size + 31) / 32 * 32;  // 64-byte aligned
    b.arena16.assign(total16, 0);
    size_t at16 = 0;
    for (auto& [ptr, size] : plan16) {
      *ptr = b.arena16.data() + at16;
      at16 += (size + 31) / 32 * 32;
    }
  }
  if (c.pos == PosKind::kRope) {
    rope_tables(b.rope_cos, b.rope_sin, seq, c.head_size(), static_cast<float>(c.rope_base));
  }
}

Model::~Model() = default;

const TensorInfo& Model::tensor(std::string_view name) const {
  for (const auto& t : layout_) {
    if (t.name == name) return t;
  }
  throw Error("model: no tensor named '" + std::string(name) + "' in this config");
}

void Model::InitParams(uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * config_.n_layer);
  for (const auto& t : layout_) {
    float* p = params_.data() + t.offset;
    const bool is_gain = t.name.ends_with(".g");
    const bool is_bias = t.name.ends_with(".b");
    if (is_gain || is_bias) {
      std::fill(p, p + t.numel, is_gain ? 1.0f : 0.0f);
      continue;
    }
    double std = config_.init_std;
    if (t.name.ends_with("attn.wo") || t.name.ends_with("mlp.wproj")) std *= residual_scale;
    for (size_t i = 0; i < t.numel; ++i) p[i] = static_cast<float>(std * Gaussian(rng));
  }
}

void Model::ZeroGrads() {
  if (training_) internal::ParallelZero(grads_.data(), grads_.size());
}

float Model::Forward(const uint8_t* inputs, const uint8_t* targets, int B, int T, float* nll,
                     float grad_scale) {
  Buffers& b = *buf_;
  const Config& c = config_;
  // Evaluation (a model built with training false) is FP32 whatever the
  // checkpoint's config says: the evaluator's metric must not depend on it.
  const Precision prec = training_ ? c.precision : Precision::kFp32;
  const int C = c.n_embd, NH = c.n_head, H = c.mlp_hidden(), Hu = UpWidth(c), L = c.n_layer;
  const int N = B * T;
  const bool ln = c.norm == NormKind::kLayerNorm;
  const float* P = params_.data();
  OpTimes* tm = times_;
  auto slot = [tm](double OpTimes::*field) { return tm ? &(tm->*field) : nullptr; };
  // out (+)= inp[N,K] · w[K,M]; under bf16 from copies of inp (into inp16,
  // kept for the backward; inp nullptr: the op before wrote it rounded) and
  // of w (into w16) rounded here.
  const bool bf16 = prec == Precision::kBf16;
  auto product = [&](float* out, const float* inp, uint16_t* inp16, const float* w, int K, int M,
                     bool add) {
    ScopedTimer timer(slot(&OpTimes::matmul));
    if (bf16) {
      uint16_t* w16 = b.w16 + (w - P);
      if (inp) to_bf16(inp16, inp, N, K, K);
      to_bf16(w16, w, K, M, M);
      if (add) {
        matmul_forward_add_bf16(out, inp16, w16, N, K, M);
      } else {
        matmul_forward_bf16(out, inp16, w16, N, K, M);
      }
    } else if (add) {
      matmul_forward_add(out, inp, w, N, K, M, prec);
    } else {
      matmul_forward(out, inp, w, N, K, M, prec);
    }
  };

  for (int i = 0; i < N; ++i) {
    b.tokens[i] = inputs[i];
    b.targets[i] = targets[i];
  }
  {
    ScopedTimer timer(slot(&OpTimes::embedding));
    const float* wpe = c.pos == PosKind::kLearned ? P + tensor("wpe").offset : nullptr;
    encoder_forward(b.res, b.tokens.data(), P + layout_[0].offset, wpe, B, T, C);
  }
  // A norm's output only feeds a product: with no fp32 out (bf16) it is
  // written rounded, into out16.
  auto norm = [&](float* out, uint16_t* out16, float* mean, float* rstd, const float* inp,
                  const float* g, const float* bias) {
    ScopedTimer timer(slot(&OpTimes::norm));
    if (!out && ln) {
      layernorm_forward_bf16(out16, mean, rstd, inp, g, bias, N, C);
    } else if (!out) {
      rmsnorm_forward_bf16(out16, rstd, inp, g, N, C);
    } else if (ln) {
      layernorm_forward(out, mean, rstd, inp, g, bias, N, C);
    } else {
      rmsnorm_forward(out, rstd, inp, g, N, C);
    }
  };
  // Tensor order per layer in the arena (see ParamLayout).
  const size_t first_layer = c.pos == PosKind::kLearned ? 2 : 1;
  const size_t per_layer = ln ? 8 : 6;
  for (int l = 0; l < L; ++l) {
    const TensorInfo* t = &layout_[first_layer + l * per_layer];
    const float* ln1_g = P + t[0].offset;
    const float* ln1_b = ln ? P + t[1].offset : nullptr;
    t += ln ? 2 : 1;
    const float* wqkv = P + t[0].offset;
    const float* wo = P + t[1].offset;
    const float* ln2_g = P + t[2].offset;
    const float* ln2_b = ln ? P + t[3].offset : nullptr;
    t += ln ? 4 : 3;
    const float* wfc = P + t[0].offset;
    const float* wproj = P + t[1].offset;

    const int k = training_ ? l : 0;
    float* x_in = b.res + (training_ ? l : l % 2) * b.nc;
    float* x_out = b.res + (training_ ? l + 1 : (l + 1) % 2) * b.nc;
    float* mid = b.mid + k * b.nc;
    float* ln1 = b.ln1 ? b.ln1 + k * b.nc : nullptr;  // null under bf16 (ln1_16 instead)
    float* ln1_mean = b.ln1_mean + k * b.n;
    float* ln1_rstd = b.ln1_rstd + k * b.n;
    float* qkv_raw = b.qkv_raw + k * b.nqkv;
    float* att = b.att + k * b.natt;
    float* atty = b.atty + k * b.nc;
    float* ln2 = b.ln2 ? b.ln2 + k * b.nc : nullptr;
    float* ln2_mean = b.ln2_mean + k * b.n;
    float* ln2_rstd = b.ln2_rstd + k * b.n;
    float* up = b.up + k * b.nup;
    float* act = b.act ? b.act + k * b.nact : nullptr;
    // The bf16 copies of this layer's product inputs (unused in fp32).
    uint16_t* ln1_16 = bf16 ? b.ln1_16 + k * b.nc : nullptr;
    uint16_t* atty16 = bf16 ? b.atty16 + k * b.nc : nullptr;
    uint16_t* ln2_16 = bf16 ? b.ln2_16 + k * b.nc : nullptr;
    uint16_t* act16 = bf16 ? b.act16 + k * b.nact : nullptr;

    norm(ln1, ln1_16, ln1_mean, ln1_rstd, x_in, ln1_g, ln1_b);
    product(qkv_raw, ln1, ln1_16, wqkv, C, 3 * C, /*add=*/false);
    float* qkv = qkv_raw;
    {
      ScopedTimer timer(slot(&OpTimes::attention));
      if (c.qk_norm) {
        qkv = b.qkv_post + k * b.nqkv;
        qknorm_forward(qkv, b.qk_rstd + k * b.nrstd, qkv_raw, B, T, C, NH);
      }
      // Rope needs no saved input for its backward, so it rotates in place.
      if (c.pos == PosKind::kRope) rope_forward(qkv, qkv, b.rope_cos, b.rope_sin, B, T, C, NH);
      if (bf16) {
        attention_forward_bf16(atty, reinterpret_cast<uint16_t*>(att), qkv, B, T, C, NH);
      } else {
        attention_forward(atty, att, qkv, B, T, C, NH);
      }
    }
    // Residual branches: the stream is copied on, the product added to it.
    {
      ScopedTimer timer(slot(&OpTimes::residual));
      internal::ParallelCopy(mid, x_in, b.nc);
    }
    product(mid, atty, atty16, wo, C, C, /*add=*/true);
    norm(ln2, ln2_16, ln2_mean, ln2_rstd, mid, ln2_g, ln2_b);
    product(up, ln2, ln2_16, wfc, C, Hu, /*add=*/false);
    {
      ScopedTimer timer(slot(&OpTimes::activation));
      switch (c.activation) {
        case Activation::kGelu:
          if (act) {
            gelu_forward(act, up, static_cast<size_t>(N) * H);
          } else {
            gelu_forward_bf16(act16, up, N, H);
          }
          break;
        case Activation::kRelu2: relu2_forward(act, up, static_cast<size_t>(N) * H); break;
        case Activation::kSwiglu: swiglu_forward(act, up, N, H); break;
      }
    }
    {
      ScopedTimer timer(slot(&OpTimes::residual));
      internal::ParallelCopy(x_out, mid, b.nc);
    }
    product(x_out, act, act16, wproj, H, C, /*add=*/true);
  }
  const float* x_final = b.res + (training_ ? L : L % 2) * b.nc;
  const TensorInfo* tf = &layout_[first_layer + L * per_layer];
  norm(b.lnf, b.lnf16, b.lnf_mean, b.lnf_rstd, x_final, P + tf[0].offset,
       ln ? P + tf[1].offset : nullptr);
  if (c.tie_embeddings) {
    ScopedTimer timer(slot(&OpTimes::matmul));
    const float* wte = P + layout_[0].offset;
    if (bf16) {
      to_bf16(b.w16 + layout_[0].offset, wte, V, C, C);
      matmul_wt_forward_bf16(b.logits, b.lnf16, b.w16 + layout_[0].offset, N, C, V);
    } else {
      matmul_wt_forward(b.logits, b.lnf, wte, N, C, V, prec);
    }
  } else {
    product(b.logits, b.lnf, b.lnf16, P + layout_.back().offset, C, V, /*add=*/false);
  }
  ScopedTimer timer(slot(&OpTimes::loss));
  if (c.logit_softcap > 0) {
    softcap_forward(b.logits, b.logits, static_cast<float>(c.logit_softcap),
                    static_cast<size_t>(N) * V);
  }
  float* losses = nll ? nll : b.losses;
  if (grad_scale != 0.0f) {
    // Training: one fused pass also writes dlogits = (softmax - onehot) * grad_scale / N.
    crossentropy_forward_backward(losses, b.dlogits, b.logits, b.targets.data(),
                                  grad_scale / static_cast<float>(N), N, V);
  } else {
    crossentropy_nll(losses, b.logits, b.targets.data(), N, V);
  }
  double sum = 0;
  for (int i = 0; i < N; ++i) sum += losses[i];
  return static_cast<float>(sum / N);
}

void Model::Backward(int B, int T) {
  Buffers& b = *buf_;
  const Config& c = config_;
  const Precision prec = c.precision;
  const int C = c.n_embd, NH = c.n_head, H = c.mlp_hidden(), Hu = UpWidth(c), L = c.n_layer;
  const int N = B * T;
  const bool ln = c.norm == NormKind::kLayerNorm;
  const float* P = params_.data();
  float* G = grads_.data();
  OpTimes* tm = times_;
  auto slot = [tm](double OpTimes::*field) { return tm ? &(tm->*field) : nullptr; };
  auto zero = internal::ParallelZero;
  const size_t NC = static_cast<size_t>(N) * C;
  // dinp = dout[N,M] · wᵀ, dw += inpᵀ · dout for w [K,M]; under bf16 from
  // the forward's copies of inp (inp16) and w, and dout rounded here once.
  const bool bf16 = prec == Precision::kBf16;
  auto product_backward = [&](float* dinp, float* dw, const float* dout, const float* inp,
                              const uint16_t* inp16, const float* w, int K, int M) {
    ScopedTimer timer(slot(&OpTimes::matmul));
    if (bf16) {
      to_bf16(b.dout16, dout, N, M, M);
      matmul_backward_bf16(dinp, dw, b.dout16, inp16, b.w16 + (w - P), N, K, M);
    } else {
      matmul_backward(dinp, dw, dout, inp, w, N, K, M, prec);
    }
  };

  // Forward left dlogits = d(grad_scale * loss)/d(capped logits); undo the softcap.
  float* dlogits = b.dlogits;
  if (c.logit_softcap > 0) {
    ScopedTimer timer(slot(&OpTimes::loss));
    zero(b.dlogits_raw, static_cast<size_t>(N) * V);
    softcap_backward(b.dlogits_raw, b.dlogits, b.logits, static_cast<float>(c.logit_softcap),
                     static_cast<size_t>(N) * V);
    dlogits = b.dlogits_raw;
  }
  auto norm_backward = [&](float* dinp, float* dg, float* db, const float* dout, const float* inp,
                           const float* g, const float* mean, const float* rstd) {
    ScopedTimer timer(slot(&OpTimes::norm));
    if (ln) {
      layernorm_backward(dinp, dg, db, dout, inp, g, mean, rstd, N, C);
    } else {
      rmsnorm_backward(dinp, dg, dout, inp, g, rstd, N, C);
    }
  };
  const size_t first_layer = c.pos == PosKind::kLearned ? 2 : 1;
  const size_t per_layer = ln ? 8 : 6;
  const TensorInfo* tf = &layout_[first_layer + L * per_layer];
  if (c.tie_embeddings) {
    ScopedTimer timer(slot(&OpTimes::matmul));
    const size_t o_wte = layout_[0].offset;
    if (bf16) {
      to_bf16(b.dout16, dlogits, N, V, V);
      matmul_wt_backward_bf16(b.dln, G + o_wte, b.dout16, b.lnf16, b.w16 + o_wte, N, C, V);
    } else {
      matmul_wt_backward(b.dln, G + o_wte, dlogits, b.lnf, P + o_wte, N, C, V, prec);
    }
  } else {
    const size_t o_head = layout_.back().offset;
    product_backward(b.dln, G + o_head, dlogits, b.lnf, b.lnf16, P + o_head, C, V);
  }
  zero(b.dres, NC);
  norm_backward(b.dres, G + tf[0].offset, ln ? G + tf[1].offset : nullptr, b.dln,
                b.res + L * b.nc, P + tf[0].offset, b.lnf_mean, b.lnf_rstd);

  for (int l = L - 1; l >= 0; --l) {
    const size_t base = first_layer + l * per_layer;
    const TensorInfo* t = &layout_[base];
    const size_t o_ln1g = t[0].offset, o_ln1b = ln ? t[1].offset : 0;
    t += ln ? 2 : 1;
    const size_t o_wqkv = t[0].offset, o_wo = t[1].offset, o_ln2g = t[2].offset;
    const size_t o_ln2b = ln ? t[3].offset : 0;
    t += ln ? 4 : 3;
    const size_t o_wfc = t[0].offset, o_wproj = t[1].offset;

    const float* x_in = b.res + l * b.nc;
    const float* mid = b.mid + l * b.nc;
    const float* ln1 = b.ln1 ? b.ln1 + l * b.nc : nullptr;
    const float* qkv_raw = b.qkv_raw + l * b.nqkv;
    const float* att = b.att + l * b.natt;
    const float* atty = b.atty + l * b.nc;
    const float* ln2 = b.ln2 ? b.ln2 + l * b.nc : nullptr;
    const float* up = b.up + l * b.nup;
    const float* act = b.act ? b.act + l * b.nact : nullptr;
    const uint16_t* ln1_16 = bf16 ? b.ln1_16 + l * b.nc : nullptr;
    const uint16_t* atty16 = bf16 ? b.atty16 + l * b.nc : nullptr;
    const uint16_t* ln2_16 = bf16 ? b.ln2_16 + l * b.nc : nullptr;
    const uint16_t* act16 = bf16 ? b.act16 + l * b.nact : nullptr;

    // MLP block: x_out = mid + act · wproj; dres holds d x_out.
    product_backward(b.dact, G + o_wproj, b.dres, act, act16, P + o_wproj, H, C);
    {
      ScopedTimer timer(slot(&OpTimes::activation));
      switch (c.activation) {
        case Activation::kGelu: gelu_backward(b.dup, b.dact, up, static_cast<size_t>(N) * H); break;
        case Activation::kRelu2:
          relu2_backward(b.dup, b.dact, up, static_cast<size_t>(N) * H);
          break;
        case Activation::kSwiglu: swiglu_backward(b.dup, b.dact, up, N, H); break;
      }
    }
    product_backward(b.dln, G + o_wfc, b.dup, ln2, ln2_16, P + o_wfc, C, Hu);
    // dres (now d mid) gets the norm's contribution added to the identity path.
    norm_backward(b.dres, G + o_ln2g, ln ? G + o_ln2b : nullptr, b.dln, mid, P + o_ln2g,
                  b.ln2_mean + l * b.n, b.ln2_rstd + l * b.n);

    // Attention block: mid = x_in + atty · wo.
    product_backward(b.datty, G + o_wo, b.dres, atty, atty16, P + o_wo, C, C);
    float* dqkv = b.dqkv;
    float* dspare = b.dqkv2;
    const float* qkv = c.qk_norm ? b.qkv_post + l * b.nqkv : qkv_raw;
    {
      ScopedTimer timer(slot(&OpTimes::attention));
      if (bf16) {
        attention_backward_bf16(dqkv, b.datty, qkv, atty, reinterpret_cast<const uint16_t*>(att), B,
                                T, C, NH);
      } else {
        attention_backward(dqkv, b.datty, qkv, att, B, T, C, NH);
      }
      if (c.pos == PosKind::kRope) {
        zero(dspare, static_cast<size_t>(N) * 3 * C);
        rope_backward(dspare, dqkv, b.rope_cos, b.rope_sin, B, T, C, NH);
        std::swap(dqkv, dspare);
      }
      if (c.qk_norm) {
        zero(dspare, static_cast<size_t>(N) * 3 * C);
        qknorm_backward(dspare, dqkv, qkv_raw, b.qk_rstd + l * b.nrstd, B, T, C, NH);
        std::swap(dqkv, dspare);
      }
    }
    product_backward(b.dln, G + o_wqkv, dqkv, ln1, ln1_16, P + o_wqkv, C, 3 * C);
    norm_backward(b.dres, G + o_ln1g, ln ? G + o_ln1b : nullptr, b.dln, x_in, P + o_ln1g,
                  b.ln1_mean + l * b.n, b.ln1_rstd + l * b.n);
  }
  ScopedTimer timer(slot(&OpTimes::embedding));
  float* dwpe = c.pos == PosKind::kLearned ? G + tensor("wpe").offset : nullptr;
  encoder_backward(G + layout_[0].offset, dwpe, b.dres, b.tokens.data(), B, T, C);
}

float Model::ForwardBackward(const uint8_t* inputs, const uint8_t* targets, int B, int T,
                             float grad_scale) {
  if (!training_) throw Error("model: ForwardBackward on a model built for inference");
  float loss = Forward(inputs, targets, B, T, nullptr, grad_scale);
  Backward(B, T);
  return loss;
}

float Model::ForwardLoss(const uint8_t* inputs, const uint8_t* targets, int B, int T) {
  return Forward(inputs, targets, B, T, nullptr, 0.0f);
}

void Model::ForwardNll(const uint8_t* inputs, const uint8_t* targets, int B, int T, float* nll) {
  Forward(inputs, targets, B, T, nll, 0.0f);
}

}  // namespace ratchet::train

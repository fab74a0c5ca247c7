#include "trainer/config.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet::train {

namespace {

using nlohmann::json;

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

constexpr EnumName<Activation> kActivations[] = {
    {Activation::kGelu, "gelu"}, {Activation::kRelu2, "relu2"}, {Activation::kSwiglu, "swiglu"}};
constexpr EnumName<NormKind> kNorms[] = {{NormKind::kLayerNorm, "layernorm"},
                                         {NormKind::kRmsNorm, "rmsnorm"}};
constexpr EnumName<PosKind> kPositions[] = {{PosKind::kLearned, "learned"},
                                            {PosKind::kRope, "rope"}};
constexpr EnumName<OptimizerKind> kOptimizers[] = {{OptimizerKind::kAdamW, "adamw"},
                                                   {OptimizerKind::kMuon, "muon"}};
constexpr EnumName<ScheduleKind> kSchedules[] = {{ScheduleKind::kCosine, "cosine"},
                                                 {ScheduleKind::kLinear, "linear"},
                                                 {ScheduleKind::kWsd, "wsd"},
                                                 {ScheduleKind::kConstant, "constant"}};
constexpr EnumName<Precision> kPrecisions[] = {{Precision::kFp32, "fp32"},
                                               {Precision::kBf16, "bf16"}};

template <typename E, size_t N>
std::string_view NameOf(const EnumName<E> (&table)[N], E value) {
  for (const auto& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// Reads keys out of one JSON object, remembering which were consumed so the
// leftovers can be reported as unknown.
class Reader {
 public:
  Reader(const json& j, std::string_view origin) : j_(j), origin_(origin) {}

  [[noreturn]] void Fail(std::string_view key, const std::string& problem) const {
    throw Error(origin_ + ": " + std::string(key) + ": " + problem);
  }

  bool Has(const char* key) const { return j_.contains(key); }

  void Int(const char* key, int& out, long lo, long hi) {
    const json* v = Take(key);
    if (!v) return;
    double d = 0;
    if (v->is_number_integer()) {
      d = static_cast<double>(v->get<long long>());
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) {
      d = v->get<double>();  // 4.0 from a numeric proposer is still 4
    } else {
      Fail(key, "expected an integer, got " + v->dump());
    }
    if (d < lo || d > hi) {
      Fail(key, v->dump() + " is out of range [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
    }
    out = static_cast<int>(d);
  }

  // Range is closed unless open_lo / open_hi.
  void Real(const char* key, double& out, double lo, double hi, bool open_lo = false,
            bool open_hi = false) {
    const json* v = Take(key);
    if (!v) return;
    if (!v->is_number()) Fail(key, "expected a number, got " + v->dump());
    double d = v->get<double>();
    bool ok = std::isfinite(d) && (open_lo ? d > lo : d >= lo) && (open_hi ? d < hi : d <= hi);
    if (!ok) {
      std::ostringstream range;
      range << (open_lo ? "(" : "[") << lo << ", " << hi << (open_hi ? ")" : "]");
      Fail(key, v->dump() + " is out of range " + range.str());
    }
    out = d;
  }

  void Bool(const char* key, bool& out) {
    const json* v = Take(key);
    if (!v) return;
    if (!v->is_boolean()) Fail(key, "expected true or false, got " + v->dump());
    out = v->get<bool>();
  }

  template <typename E, size_t N>
  void Enum(const char* key, E& out, const EnumName<E> (&table)[N]) {
    const json* v = Take(key);
    if (!v) return;
    std::string choices;
    for (const auto& e : table) {
      if (v->is_string() && v->get<std::string>() == e.name) {
        out = e.value;
        return;
      }
      choices += (choices.empty() ? "" : "|") + std::string(e.name);
    }
    Fail(key, "expected one of " + choices + ", got " + v->dump());
  }

  void RejectUnknown() const {
    for (const auto& [key, value] : j_.items()) {
      if (!taken_.count(key)) Fail(key, "unknown key");
    }
  }

 private:
  const json* Take(const char* key) {
    taken_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) return nullptr;
    return &*it;
  }

  const json& j_;
  std::string origin_;
  std::set<std::string> taken_;
};

}  // namespace

int Config::mlp_hidden() const {
  return static_cast<int>(std::lround(mlp_ratio * n_embd));
}

std::string_view ToString(Activation a) { return NameOf(kActivations, a); }
std::string_view ToString(NormKind n) { return NameOf(kNorms, n); }
std::string_view ToString(PosKind p) { return NameOf(kPositions, p); }
std::string_view ToString(OptimizerKind o) { return NameOf(kOptimizers, o); }
std::string_view ToString(ScheduleKind s) { return NameOf(kSchedules, s); }
std::string_view ToString(Precision p) { return NameOf(kPrecisions, p); }

Config ParseConfig(const json& j, std::string_view origin) {
  if (!j.is_object()) throw Error(std::string(origin) + ": expected a JSON object");
  Config c;
  Reader r(j, origin);
  r.Int("n_layer", c.n_layer, 1, 256);
  r.Int("n_embd", c.n_embd, 1, 16384);
  r.Int("n_head", c.n_head, 1, 1024);
  r.Real("mlp_ratio", c.mlp_ratio, 0, 64, /*open_lo=*/true);
  r.Enum("activation", c.activation, kActivations);
  r.Enum("norm", c.norm, kNorms);
  r.Enum("pos", c.pos, kPositions);
  r.Real("rope_base", c.rope_base, 1, 1e12, /*open_lo=*/true);
  r.Bool("tie_embeddings", c.tie_embeddings);
  r.Bool("qk_norm", c.qk_norm);
  r.Real("logit_softcap", c.logit_softcap, 0, 1e6);
  r.Int("seq_len", c.seq_len, 1, 1 << 16);
  r.Int("batch_size", c.batch_size, 1, 1 << 16);
  r.Int("grad_accum", c.grad_accum, 1, 1 << 16);
  r.Enum("optimizer", c.optimizer, kOptimizers);
  r.Real("lr", c.lr, 0, 10, /*open_lo=*/true);
  c.embed_lr = c.lr;
  c.matrix_lr = c.optimizer == OptimizerKind::kMuon ? 0.02 : c.lr;
  r.Real("embed_lr", c.embed_lr, 0, 10, /*open_lo=*/true);
  r.Real("matrix_lr", c.matrix_lr, 0, 10, /*open_lo=*/true);
  r.Real("weight_decay", c.weight_decay, 0, 10);
  r.Real("beta1", c.beta1, 0, 1, false, /*open_hi=*/true);
  r.Real("beta2", c.beta2, 0, 1, false, /*open_hi=*/true);
  r.Real("grad_clip", c.grad_clip, 0, 1e6);
  r.Real("init_std", c.init_std, 0, 10, /*open_lo=*/true);
  r.Real("muon_momentum", c.muon_momentum, 0, 1, false, /*open_hi=*/true);
  r.Int("muon_ns_steps", c.muon_ns_steps, 1, 20);
  r.Enum("schedule", c.schedule, kSchedules);
  r.Real("warmup_frac", c.warmup_frac, 0, 1);
  r.Real("cooldown_frac", c.cooldown_frac, 0, 1);
  r.Real("min_lr_frac", c.min_lr_frac, 0, 1);
  r.Enum("precision", c.precision, kPrecisions);
  r.RejectUnknown();

  // Cross-key constraints: shapes that cannot be built.
  if (c.n_embd % c.n_head != 0) {
    r.Fail("n_head", "n_embd " + std::to_string(c.n_embd) + " is not divisible by n_head " +
                         std::to_string(c.n_head));
  }
  if (c.pos == PosKind::kRope && c.head_size() % 2 != 0) {
    r.Fail("pos", "rope needs an even head size, n_embd/n_head = " +
                      std::to_string(c.head_size()));
  }
  if (c.mlp_hidden() < 1) {
    r.Fail("mlp_ratio", "round(mlp_ratio * n_embd) is " + std::to_string(c.mlp_hidden()) +
                            ", the MLP would have no hidden units");
  }
  if (c.schedule == ScheduleKind::kWsd && c.warmup_frac + c.cooldown_frac > 1.0) {
    r.Fail("cooldown_frac", "warmup_frac + cooldown_frac must be <= 1 for wsd");
  }
  return c;
}

Config LoadConfigFile(const std::string& path) {
  std::string text = ReadFile(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(path + ": invalid JSON at byte " + std::to_string(e.byte) + ": " +
                std::string(e.what()));
  }
  return ParseConfig(j, path);
}

json ToJson(const Config& c) {
  return json{{"n_layer", c.n_layer},
              {"n_embd", c.n_embd},
              {"n_head", c.n_head},
              {"mlp_ratio", c.mlp_ratio},
              {"activation", std::string(ToString(c.activation))},
              {"norm", std::string(ToString(c.norm))},
              {"pos", std::string(ToString(c.pos))},
              {"rope_base", c.rope_base},
              {"tie_embeddings", c.tie_embeddings},
              {"qk_norm", c.qk_norm},
              {"logit_softcap", c.logit_softcap},
              {"seq_len", c.seq_len},
              {"batch_size", c.batch_size},
              {"grad_accum", c.grad_accum},
              {"optimizer", std::string(ToString(c.optimizer))},
              {"lr", c.lr},
              {"embed_lr", c.embed_lr},
              {"matrix_lr", c.matrix_lr},
              {"weight_decay", c.weight_decay},
              {"beta1", c.beta1},
              {"beta2", c.beta2},
              {"grad_clip", c.grad_clip},
              {"init_std", c.init_std},
              {"muon_momentum", c.muon_momentum},
              {"muon_ns_steps", c.muon_ns_steps},
              {"schedule", std::string(ToString(c.schedule))},
              {"warmup_frac", c.warmup_frac},
              {"cooldown_frac", c.cooldown_frac},
              {"min_lr_frac", c.min_lr_frac},
              {"precision", std::string(ToString(c.precision))}};
}

}  // namespace ratchet::train

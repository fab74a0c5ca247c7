#include "harness/reference_model.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "base/error.h"

namespace ratchet {
namespace {

using Matrix = std::vector<double>;  // row-major [rows, cols]

template <typename T>
T Required(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) throw Error(std::string("checkpoint config: missing key ") + key);
  try {
    return config.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("checkpoint config: ") + key + ": wrong type");
  }
}

template <typename T>
T Optional(const nlohmann::json& config, const char* key, T fallback) {
  return config.contains(key) ? Required<T>(config, key) : fallback;
}

void CheckChoice(const std::string& key, const std::string& value,
                 std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return;
  }
  throw Error("checkpoint config: " + key + ": unknown value \"" + value + "\"");
}

// out[T, n_out] = in[T, n_in] · w[n_in, n_out], w stored float row-major.
Matrix MatMul(const Matrix& in, int rows, int n_in, const RefTensor& w, int n_out) {
  Matrix out(static_cast<size_t>(rows) * n_out, 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < n_in; ++i) {
      const double a = in[static_cast<size_t>(r) * n_in + i];
      const float* w_row = w.data.data() + static_cast<size_t>(i) * n_out;
      double* out_row = out.data() + static_cast<size_t>(r) * n_out;
      for (int o = 0; o < n_out; ++o) out_row[o] += a * w_row[o];
    }
  }
  return out;
}

}  // namespace

int RefConfig::hidden() const { return static_cast<int>(std::lround(mlp_ratio * n_embd)); }

RefConfig ParseRefConfig(const nlohmann::json& config) {
  RefConfig c;
  c.n_layer = Required<int>(config, "n_layer");
  c.n_embd = Required<int>(config, "n_embd");
  c.n_head = Required<int>(config, "n_head");
  c.seq_len = Required<int>(config, "seq_len");
  c.mlp_ratio = Optional<double>(config, "mlp_ratio", c.mlp_ratio);
  c.activation = Optional<std::string>(config, "activation", c.activation);
  c.norm = Optional<std::string>(config, "norm", c.norm);
  c.pos = Optional<std::string>(config, "pos", c.pos);
  c.rope_base = Optional<double>(config, "rope_base", c.rope_base);
  c.tie_embeddings = Optional<bool>(config, "tie_embeddings", c.tie_embeddings);
  c.qk_norm = Optional<bool>(config, "qk_norm", c.qk_norm);
  c.logit_softcap = Optional<double>(config, "logit_softcap", c.logit_softcap);
  CheckChoice("activation", c.activation, {"gelu", "relu2", "swiglu"});
  CheckChoice("norm", c.norm, {"layernorm", "rmsnorm"});
  CheckChoice("pos", c.pos, {"learned", "rope"});
  if (c.n_layer < 1 || c.n_embd < 1 || c.n_head < 1 || c.seq_len < 1 || c.n_embd % c.n_head != 0 ||
      (c.pos == "rope" && (c.n_embd / c.n_head) % 2 != 0) || c.hidden() < 1) {
    throw Error("checkpoint config: impossible shape");
  }
  return c;
}

ReferenceModel::ReferenceModel(const RefConfig& config, RefTensors tensors)
    : config_(config), tensors_(std::move(tensors)) {
  const std::int64_t C = config_.n_embd, H = config_.hidden();
  const bool layernorm = config_.norm == "layernorm";
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected = {{"wte", {kVocab, C}}};
  if (config_.pos == "learned") expected.push_back({"wpe", {config_.seq_len, C}});
  auto add_norm = [&](const std::string& prefix) {
    expected.push_back({prefix + ".g", {C}});
    if (layernorm) expected.push_back({prefix + ".b", {C}});
  };
  for (int l = 0; l < config_.n_layer; ++l) {
    const std::string h = "h" + std::to_string(l);
    add_norm(h + ".ln1");
    expected.push_back({h + ".attn.wqkv", {C, 3 * C}});
    expected.push_back({h + ".attn.wo", {C, C}});
    add_norm(h + ".ln2");
    expected.push_back({h + ".mlp.wfc", {C, config_.activation == "swiglu" ? 2 * H : H}});
    expected.push_back({h + ".mlp.wproj", {H, C}});
  }
  add_norm("lnf");
  if (!config_.tie_embeddings) expected.push_back({"lm_head", {C, kVocab}});
  for (const auto& [name, shape] : expected) {
    const RefTensor& t = Get(name);
    std::int64_t count = 1;
    for (auto d : shape) count *= d;
    if (t.shape != shape || static_cast<std::int64_t>(t.data.size()) != count) {
      throw Error("reference model: tensor " + name + " has the wrong shape");
    }
  }
}

const RefTensor& ReferenceModel::Get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("reference model: tensor " + name + " is missing");
  return it->second;
}

std::vector<double> ReferenceModel::Logits(std::span<const std::uint8_t> tokens) const {
  const int T = static_cast<int>(tokens.size());
  const int C = config_.n_embd, NH = config_.n_head, hs = C / NH, H = config_.hidden();
  if (T < 1 || T > config_.seq_len) throw Error("reference model: sequence length out of range");
  const bool layernorm = config_.norm == "layernorm";

  // h = norm(x) row by row, with the gain (and bias) tensors of `prefix`.
  auto norm = [&](const Matrix& x, const std::string& prefix) {
    const RefTensor& g = Get(prefix + ".g");
    Matrix out(x.size());
    for (int t = 0; t < T; ++t) {
      const double* row = x.data() + static_cast<size_t>(t) * C;
      double* out_row = out.data() + static_cast<size_t>(t) * C;
      if (layernorm) {
        const RefTensor& b = Get(prefix + ".b");
        double mean = 0, var = 0;
        for (int c = 0; c < C; ++c) mean += row[c];
        mean /= C;
        for (int c = 0; c < C; ++c) var += (row[c] - mean) * (row[c] - mean);
        var /= C;
        const double inv = 1.0 / std::sqrt(var + 1e-5);
        for (int c = 0; c < C; ++c) out_row[c] = (row[c] - mean) * inv * g.data[c] + b.data[c];
      } else {
        double ms = 0;
        for (int c = 0; c < C; ++c) ms += row[c] * row[c];
        const double inv = 1.0 / std::sqrt(ms / C + 1e-5);
        for (int c = 0; c < C; ++c) out_row[c] = row[c] * inv * g.data[c];
      }
    }
    return out;
  };

  // x[T, C]: token (+ learned position) embeddings.
  Matrix x(static_cast<size_t>(T) * C);
  const RefTensor& wte = Get("wte");
  for (int t = 0; t < T; ++t) {
    for (int c = 0; c < C; ++c) {
      double v = wte.data[static_cast<size_t>(tokens[t]) * C + c];
      if (config_.pos == "learned") v += Get("wpe").data[static_cast<size_t>(t) * C + c];
      x[static_cast<size_t>(t) * C + c] = v;
    }
  }

  for (int l = 0; l < config_.n_layer; ++l) {
    const std::string p = "h" + std::to_string(l);
    // Attention. qkv[T, 3C]: q = cols [0, C), k = [C, 2C), v = [2C, 3C).
    Matrix qkv = MatMul(norm(x, p + ".ln1"), T, C, Get(p + ".attn.wqkv"), 3 * C);
    auto at = [&](int t, int part, int head, int i) -> double& {
      return qkv[static_cast<size_t>(t) * 3 * C + part * C + head * hs + i];
    };
    for (int t = 0; t < T; ++t) {
      for (int head = 0; head < NH; ++head) {
        for (int part = 0; part < 2; ++part) {  // q and k only
          if (config_.qk_norm) {
            double ms = 0;
            for (int i = 0; i < hs; ++i) ms += at(t, part, head, i) * at(t, part, head, i);
            const double inv = 1.0 / std::sqrt(ms / hs + 1e-6);
            for (int i = 0; i < hs; ++i) at(t, part, head, i) *= inv;
          }
          if (config_.pos == "rope") {
            for (int i = 0; i < hs / 2; ++i) {
              const double angle = t * std::pow(config_.rope_base, -2.0 * i / hs);
              const double a = at(t, part, head, i), b = at(t, part, head, i + hs / 2);
              at(t, part, head, i) = a * std::cos(angle) - b * std::sin(angle);
              at(t, part, head, i + hs / 2) = a * std::sin(angle) + b * std::cos(angle);
            }
          }
        }
      }
    }
    Matrix y(static_cast<size_t>(T) * C, 0.0);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
    std::vector<double> p_att(T);
    for (int head = 0; head < NH; ++head) {
      for (int t = 0; t < T; ++t) {
        double max_score = -INFINITY;
        for (int s = 0; s <= t; ++s) {
          double dot = 0;
          for (int i = 0; i < hs; ++i) dot += at(t, 0, head, i) * at(s, 1, head, i);
          p_att[s] = dot * scale;
          max_score = std::max(max_score, p_att[s]);
        }
        double sum = 0;
        for (int s = 0; s <= t; ++s) sum += (p_att[s] = std::exp(p_att[s] - max_score));
        for (int s = 0; s <= t; ++s) {
          for (int i = 0; i < hs; ++i) {
            y[static_cast<size_t>(t) * C + head * hs + i] += p_att[s] / sum * at(s, 2, head, i);
          }
        }
      }
    }
    Matrix attn_out = MatMul(y, T, C, Get(p + ".attn.wo"), C);
    for (size_t i = 0; i < x.size(); ++i) x[i] += attn_out[i];

    // MLP.
    const bool swiglu = config_.activation == "swiglu";
    Matrix u = MatMul(norm(x, p + ".ln2"), T, C, Get(p + ".mlp.wfc"), swiglu ? 2 * H : H);
    Matrix m(static_cast<size_t>(T) * H);
    for (int t = 0; t < T; ++t) {
      for (int j = 0; j < H; ++j) {
        double out;
        if (config_.activation == "gelu") {
          const double v = u[static_cast<size_t>(t) * H + j];
          const double k = std::sqrt(2.0 / std::numbers::pi);
          out = 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v)));
        } else if (config_.activation == "relu2") {
          const double v = std::max(0.0, u[static_cast<size_t>(t) * H + j]);
          out = v * v;
        } else {
          const double gate = u[static_cast<size_t>(t) * 2 * H + j];
          const double up = u[static_cast<size_t>(t) * 2 * H + H + j];
          out = gate / (1.0 + std::exp(-gate)) * up;
        }
        m[static_cast<size_t>(t) * H + j] = out;
      }
    }
    Matrix mlp_out = MatMul(m, T, H, Get(p + ".mlp.wproj"), C);
    for (size_t i = 0; i < x.size(); ++i) x[i] += mlp_out[i];
  }

  const Matrix h = norm(x, "lnf");
  Matrix logits(static_cast<size_t>(T) * kVocab, 0.0);
  if (config_.tie_embeddings) {
    for (int t = 0; t < T; ++t) {
      for (int v = 0; v < kVocab; ++v) {
        double dot = 0;
        for (int c = 0; c < C; ++c) dot += h[static_cast<size_t>(t) * C + c] * wte.data[v * C + c];
        logits[static_cast<size_t>(t) * kVocab + v] = dot;
      }
    }
  } else {
    logits = MatMul(h, T, C, Get("lm_head"), kVocab);
  }
  if (config_.logit_softcap > 0) {
    for (double& z : logits) z = config_.logit_softcap * std::tanh(z / config_.logit_softcap);
  }
  return logits;
}

double ReferenceModel::SumNll(std::span<const std::uint8_t> inputs,
                              std::span<const std::uint8_t> targets) const {
  double total = 0;
  for (double v : Nll(inputs, targets)) total += v;
  return total;
}

std::vector<double> ReferenceModel::Nll(std::span<const std::uint8_t> inputs,
                                        std::span<const std::uint8_t> targets) const {
  if (inputs.size() != targets.size()) throw Error("reference model: inputs/targets differ");
  const std::vector<double> logits = Logits(inputs);
  std::vector<double> nll(inputs.size());
  for (size_t t = 0; t < inputs.size(); ++t) {
    const double* row = logits.data() + t * kVocab;
    const double max_logit = *std::max_element(row, row + kVocab);
    double sum = 0;
    for (int v = 0; v < kVocab; ++v) sum += std::exp(row[v] - max_logit);
    nll[t] = max_logit + std::log(sum) - row[targets[t]];
  }
  return nll;
}

}  // namespace ratchet

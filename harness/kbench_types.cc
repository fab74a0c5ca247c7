#include "harness/kbench_types.h"

#include <cmath>

#include "harness/kbench_reference.h"

namespace ratchet::kbench {
namespace {

constexpr double kUnitRoundoff = 5.9604644775390625e-8;  // 2^-24, FP32.
constexpr float kDenormalScale = 1e-39f;                 // Below FLT_MIN (1.18e-38): subnormal.
constexpr float kNormEps = 1e-5f;
constexpr float kRopeBase = 10000.0f;

// splitmix64: a tiny, well-mixed generator; the inputs only need to be
// reproducible and spread, not cryptographic.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi).
  float Uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>((Next() >> 40) * 0x1.0p-24);
  }

 private:
  uint64_t state_;
};

void FillUniform(Floats& v, Rng& rng, float scale) {
  for (float& x : v) x = rng.Uniform(-1, 1) * scale;
}

// Rows of `cols` values that are each one constant (drawn in [-scale, scale]).
void FillEqualRows(Floats& v, int64_t cols, Rng& rng, float scale) {
  for (size_t r = 0; r * cols < v.size(); ++r) {
    const float c = rng.Uniform(-1, 1) * scale;
    for (int64_t j = 0; j < cols; ++j) v[r * cols + j] = c;
  }
}

void Resize(const KernelType& type, const Problem& p, std::vector<Floats>& in) {
  const std::vector<int64_t> sizes = type.InputSizes(p);
  in.resize(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) in[i].assign(sizes[i], 0.0f);
}

int64_t Product(const Problem& p, int count) {
  int64_t n = 1;
  for (int i = 0; i < count; ++i) n *= p.dims[i];
  return n;
}

class Matmul : public KernelType {
 public:
  std::string_view Name() const override { return "matmul"; }
  std::string_view MetricKey() const override { return "gflops"; }
  bool MemoryBound() const override { return false; }
  Problem Smoke() const override { return {{8, 8, 8}}; }
  std::vector<Problem> Sweep() const override {
    return {{{1, 1, 1}},    {{1, 17, 5}},     {{3, 1, 7}},      {{7, 13, 17}},    {{31, 37, 41}},
            {{64, 64, 64}}, {{97, 101, 103}}, {{128, 96, 257}}, {{255, 131, 64}}, {{5, 509, 29}}};
  }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{33, 47, 129}}, Inputs::kLarge}, {{{33, 47, 129}}, Inputs::kDenormal}};
  }
  std::vector<Problem> Determinism() const override { return {{{61, 67, 71}}, {{256, 264, 300}}}; }
  // The trainer's projections at 4096 tokens of width 256: qkv (256 -> 768),
  // MLP out (1024 -> 256), MLP in (256 -> 1024).
  std::vector<Problem> Bench() const override {
    return {{{4096, 768, 256}}, {{4096, 256, 1024}}, {{4096, 1024, 256}}};
  }
  std::vector<int64_t> InputSizes(const Problem& p) const override {
    const int64_t M = p.dims[0], N = p.dims[1], K = p.dims[2];
    return {M * K, K * N};
  }
  int64_t OutputSize(const Problem& p) const override {
    return static_cast<int64_t>(p.dims[0]) * p.dims[1];
  }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    const float a_scale = inputs == Inputs::kLarge      ? 1e15f
                          : inputs == Inputs::kDenormal ? kDenormalScale
                                                        : 1.0f;
    FillUniform(in[0], rng, a_scale);
    FillUniform(in[1], rng, inputs == Inputs::kLarge ? 1e15f : 1.0f);
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, const float*, float*, int, int, int, int);
    reinterpret_cast<Fn>(entry)(in[0], in[1], out, p.dims[0], p.dims[1], p.dims[2], threads);
  }
  int64_t Rows(const Problem& p) const override { return p.dims[0]; }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    ReferenceMatmulRow(in[0], in[1], p.dims[1], p.dims[2], static_cast<int>(row), ref, scale);
  }
  // Against sum |a*b|, a float dot product of length K typically errs by
  // about u * sqrt(K); dropping or doubling one term errs by about 1/K.
  double Tolerance(const Problem& p) const override {
    return 8 * kUnitRoundoff * (std::sqrt(static_cast<double>(p.dims[2])) + 4);
  }
  double Work(const Problem& p) const override { return 2.0 * p.dims[0] * p.dims[1] * p.dims[2]; }

 protected:
  std::vector<std::string_view> DimNames() const override { return {"M", "N", "K"}; }
};

// Shared by the row-wise types: softmax, rmsnorm, layernorm.
class RowWise : public KernelType {
 public:
  bool MemoryBound() const override { return true; }
  std::string_view MetricKey() const override { return "gbps"; }
  Problem Smoke() const override { return {{4, 8}}; }
  std::vector<Problem> Sweep() const override {
    return {{{1, 1}},   {{1, 2}},   {{3, 7}},     {{5, 31}},   {{17, 64}},
            {{64, 97}}, {{7, 256}}, {{33, 1000}}, {{2, 4099}}, {{129, 255}}};
  }
  std::vector<Problem> Determinism() const override { return {{{17, 64}}, {{512, 1000}}}; }
  // Rows of 256: the trainer's 4096 tokens of width 256 (and its vocabulary of
  // 256 logits), its attention rows (B*NH*T = 128*256 rows), and wide rows.
  std::vector<Problem> Bench() const override {
    return {{{4096, 256}}, {{32768, 256}}, {{1024, 4096}}};
  }
  int64_t OutputSize(const Problem& p) const override { return Product(p, 2); }
  int64_t Rows(const Problem& p) const override { return p.dims[0]; }
  // Sums of `cols` terms: about u * sqrt(cols), plus room for a fast exp/rsqrt.
  double Tolerance(const Problem& p) const override {
    return 1e-5 + 4 * kUnitRoundoff * std::sqrt(static_cast<double>(p.dims[1]));
  }
  // Bytes: the input read once and the output written once.
  double Work(const Problem& p) const override { return 8.0 * p.dims[0] * p.dims[1]; }

 protected:
  std::vector<std::string_view> DimNames() const override { return {"rows", "cols"}; }
};

class Softmax : public RowWise {
 public:
  std::string_view Name() const override { return "softmax"; }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{9, 300}}, Inputs::kLarge},
            {{{9, 300}}, Inputs::kEqualRows},
            {{{9, 300}}, Inputs::kDenormal}};
  }
  std::vector<int64_t> InputSizes(const Problem& p) const override { return {Product(p, 2)}; }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    if (inputs == Inputs::kEqualRows) return FillEqualRows(in[0], p.dims[1], rng, 1e4f);
    FillUniform(in[0], rng,
                inputs == Inputs::kLarge      ? 1e4f
                : inputs == Inputs::kDenormal ? kDenormalScale
                                              : 1.0f);
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, float*, int, int, int);
    reinterpret_cast<Fn>(entry)(in[0], out, p.dims[0], p.dims[1], threads);
  }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    ReferenceSoftmaxRow(in[0] + row * p.dims[1], p.dims[1], ref, scale);
  }
};

class Rmsnorm : public RowWise {
 public:
  std::string_view Name() const override { return "rmsnorm"; }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{9, 300}}, Inputs::kLarge},
            {{{9, 300}}, Inputs::kEqualRows},
            {{{9, 300}}, Inputs::kDenormal}};
  }
  std::vector<int64_t> InputSizes(const Problem& p) const override {
    return {Product(p, 2), p.dims[1]};
  }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    if (inputs == Inputs::kEqualRows) {
      FillEqualRows(in[0], p.dims[1], rng, 1.0f);
    } else {
      FillUniform(in[0], rng,
                  inputs == Inputs::kLarge      ? 1e15f
                  : inputs == Inputs::kDenormal ? kDenormalScale
                                                : 1.0f);
    }
    for (float& w : in[1]) w = rng.Uniform(0.5f, 1.5f);
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, const float*, float*, int, int, float, int);
    reinterpret_cast<Fn>(entry)(in[0], in[1], out, p.dims[0], p.dims[1], kNormEps, threads);
  }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    ReferenceRmsnormRow(in[0] + row * p.dims[1], in[1], p.dims[1], kNormEps, ref, scale);
  }
};

class Layernorm : public RowWise {
 public:
  std::string_view Name() const override { return "layernorm"; }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{9, 300}}, Inputs::kOffset},
            {{{9, 300}}, Inputs::kLarge},
            {{{9, 300}}, Inputs::kEqualRows},
            {{{9, 300}}, Inputs::kDenormal}};
  }
  std::vector<int64_t> InputSizes(const Problem& p) const override {
    return {Product(p, 2), p.dims[1], p.dims[1]};
  }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    if (inputs == Inputs::kEqualRows) {
      FillEqualRows(in[0], p.dims[1], rng, 1.0f);
    } else if (inputs == Inputs::kOffset) {
      for (float& x : in[0]) x = 100.0f + rng.Uniform(-1, 1);
    } else {
      FillUniform(in[0], rng,
                  inputs == Inputs::kLarge      ? 1e15f
                  : inputs == Inputs::kDenormal ? kDenormalScale
                                                : 1.0f);
    }
    for (float& w : in[1]) w = rng.Uniform(0.5f, 1.5f);
    for (float& b : in[2]) b = rng.Uniform(-0.5f, 0.5f);
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, const float*, const float*, float*, int, int, float, int);
    reinterpret_cast<Fn>(entry)(in[0], in[1], in[2], out, p.dims[0], p.dims[1], kNormEps, threads);
  }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    ReferenceLayernormRow(in[0] + row * p.dims[1], in[1], in[2], p.dims[1], kNormEps, ref, scale);
  }
};

class Attention : public KernelType {
 public:
  std::string_view Name() const override { return "attention"; }
  std::string_view MetricKey() const override { return "gflops"; }
  bool MemoryBound() const override { return false; }
  Problem Smoke() const override { return {{1, 1, 4, 8}}; }
  std::vector<Problem> Sweep() const override {
    return {{{1, 1, 1, 1}},   {{1, 1, 1, 32}},   {{1, 2, 3, 5}},
            {{2, 3, 7, 16}},  {{1, 1, 17, 33}},  {{1, 2, 31, 64}},
            {{2, 1, 97, 13}}, {{1, 1, 129, 32}}, {{1, 2, 64, 128}}};
  }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{1, 2, 37, 16}}, Inputs::kLarge},
            {{{1, 2, 37, 16}}, Inputs::kEqualRows},
            {{{1, 2, 37, 16}}, Inputs::kDenormal}};
  }
  std::vector<Problem> Determinism() const override {
    return {{{1, 2, 31, 64}}, {{2, 4, 128, 32}}};
  }
  // The trainer's attention: B*NH = 128 heads of T = 256, head size 32; and a
  // longer context with wider heads.
  std::vector<Problem> Bench() const override { return {{{16, 8, 256, 32}}, {{4, 8, 512, 64}}}; }
  std::vector<int64_t> InputSizes(const Problem& p) const override {
    const int64_t n = Product(p, 4);
    return {n, n, n};
  }
  int64_t OutputSize(const Problem& p) const override { return Product(p, 4); }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    const float qk_scale = inputs == Inputs::kLarge || inputs == Inputs::kEqualRows ? 30.0f
                           : inputs == Inputs::kDenormal                            ? kDenormalScale
                                                                                    : 1.0f;
    FillUniform(in[0], rng, qk_scale);
    FillUniform(in[1], rng, qk_scale);
    FillUniform(in[2], rng, inputs == Inputs::kDenormal ? kDenormalScale : 1.0f);
    if (inputs == Inputs::kEqualRows) {
      // Every key of a head equals its first: the weights are uniform however
      // large the logits.
      const int64_t T = p.dims[2], HS = p.dims[3];
      for (int64_t bh = 0; bh < Product(p, 2); ++bh) {
        float* k = in[1].data() + bh * T * HS;
        for (int64_t t = 1; t < T; ++t) std::copy(k, k + HS, k + t * HS);
      }
    }
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, const float*, const float*, float*, int, int, int, int, int);
    reinterpret_cast<Fn>(entry)(in[0], in[1], in[2], out, p.dims[0], p.dims[1], p.dims[2],
                                p.dims[3], threads);
  }
  int64_t Rows(const Problem& p) const override { return Product(p, 3); }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    const int64_t T = p.dims[2], HS = p.dims[3];
    const int64_t head = (row / T) * T * HS;
    ReferenceAttentionRow(in[0] + head, in[1] + head, in[2] + head, static_cast<int>(HS),
                          static_cast<int>(row % T), ref, scale);
  }
  double Tolerance(const Problem& p) const override {
    return 2e-5 + 8 * kUnitRoundoff * std::sqrt(static_cast<double>(p.dims[2]) * p.dims[3]);
  }
  // Causal: T(T+1)/2 (query, key) pairs, each 2*HS FLOPs for q.k and 2*HS for w*v.
  double Work(const Problem& p) const override {
    return 2.0 * p.dims[0] * p.dims[1] * p.dims[3] * p.dims[2] * (p.dims[2] + 1.0);
  }

 protected:
  std::vector<std::string_view> DimNames() const override { return {"B", "NH", "T", "HS"}; }
};

class Rope : public KernelType {
 public:
  std::string_view Name() const override { return "rope"; }
  std::string_view MetricKey() const override { return "gbps"; }
  bool MemoryBound() const override { return true; }
  Problem Smoke() const override { return {{1, 4, 2, 8}}; }
  std::vector<Problem> Sweep() const override {
    return {{{1, 1, 1, 2}},   {{1, 3, 1, 2}},   {{1, 7, 3, 4}},
            {{2, 17, 2, 6}},  {{1, 64, 4, 32}}, {{1, 101, 3, 64}},
            {{2, 33, 5, 16}}, {{1, 257, 2, 8}}, {{1, 2049, 1, 2}}};
  }
  std::vector<AdversarialCase> Adversarial() const override {
    return {{{{1, 37, 3, 16}}, Inputs::kLarge}, {{{1, 37, 3, 16}}, Inputs::kDenormal}};
  }
  std::vector<Problem> Determinism() const override {
    return {{{2, 33, 5, 16}}, {{4, 256, 8, 32}}};
  }
  // The trainer's q (or k): 16 sequences of 256 tokens, 8 heads of 32.
  std::vector<Problem> Bench() const override { return {{{16, 256, 8, 32}}, {{4, 1024, 8, 64}}}; }
  std::vector<int64_t> InputSizes(const Problem& p) const override { return {Product(p, 4)}; }
  int64_t OutputSize(const Problem& p) const override { return Product(p, 4); }
  void Fill(const Problem& p, Inputs inputs, uint64_t seed,
            std::vector<Floats>& in) const override {
    Resize(*this, p, in);
    Rng rng(seed);
    FillUniform(in[0], rng,
                inputs == Inputs::kLarge      ? 1e30f
                : inputs == Inputs::kDenormal ? kDenormalScale
                                              : 1.0f);
  }
  void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
            int threads) const override {
    using Fn = void (*)(const float*, float*, int, int, int, int, float, int);
    reinterpret_cast<Fn>(entry)(in[0], out, p.dims[0], p.dims[1], p.dims[2], p.dims[3], kRopeBase,
                                threads);
  }
  int64_t Rows(const Problem& p) const override { return Product(p, 3); }
  void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row, double* ref,
                 double* scale) const override {
    const int64_t T = p.dims[1], NH = p.dims[2], HS = p.dims[3];
    ReferenceRopeRow(in[0] + row * HS, static_cast<int>(HS), static_cast<int>((row / NH) % T),
                     kRopeBase, ref, scale);
  }
  // A float angle t * freq is off by about u * t radians.
  double Tolerance(const Problem& p) const override { return 1e-5 + 4 * kUnitRoundoff * p.dims[1]; }
  double Work(const Problem& p) const override { return 8.0 * Product(p, 4); }

 protected:
  std::vector<std::string_view> DimNames() const override { return {"B", "T", "NH", "HS"}; }
};

}  // namespace

std::string_view InputsName(Inputs inputs) {
  switch (inputs) {
    case Inputs::kNormal:
      return "normal";
    case Inputs::kLarge:
      return "large";
    case Inputs::kDenormal:
      return "denormal";
    case Inputs::kEqualRows:
      return "equal_rows";
    case Inputs::kOffset:
      return "offset";
  }
  return "?";
}

std::string KernelType::Symbol() const { return "kernel_" + std::string(Name()); }

std::string KernelType::Describe(const Problem& problem) const {
  std::string s;
  const std::vector<std::string_view> names = DimNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) s += ",";
    s += std::string(names[i]) + "=" + std::to_string(problem.dims[i]);
  }
  return s;
}

const KernelType* FindKernelType(std::string_view name) {
  static const Matmul matmul;
  static const Softmax softmax;
  static const Rmsnorm rmsnorm;
  static const Layernorm layernorm;
  static const Attention attention;
  static const Rope rope;
  static const KernelType* const kAll[] = {&matmul,    &softmax,   &rmsnorm,
                                           &layernorm, &attention, &rope};
  for (const KernelType* type : kAll) {
    if (type->Name() == name) return type;
  }
  return nullptr;
}

std::string KernelTypeNames() { return "matmul, softmax, rmsnorm, layernorm, attention, rope"; }

}  // namespace ratchet::kbench

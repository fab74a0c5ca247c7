// The kernel types ratchet-kbench knows: for each, its C entry point (see
// kbench_abi.h), the problems it is checked and timed on, how its inputs are
// made, how it is called, its double-precision reference, its tolerance and
// its work (FLOPs or bytes) per call.
//
// Problem sizes: matmul {M, N, K}; softmax, rmsnorm, layernorm {rows, cols};
// attention {B, NH, T, HS}; rope {B, T, NH, HS}.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace ratchet::kbench {

// 64-byte aligned storage, so a kernel may use aligned vector loads at the
// start of every array the bench passes.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};
using Floats = std::vector<float, AlignedAllocator<float>>;

struct Problem {
  std::array<int, 4> dims{};  // Meaning per type; unused dims are 0.
};

// How a check's inputs are drawn. kNormal: uniform in [-1, 1]; the others are
// the adversarial regimes (judged with a looser tolerance).
enum class Inputs {
  kNormal,
  kLarge,      // Large magnitudes (overflow unless the kernel is careful).
  kDenormal,   // Subnormal floats (slow paths, flush-to-zero).
  kEqualRows,  // Every row (softmax, norms) or every key (attention) equal.
  kOffset,     // Rows far from zero mean (cancellation in a one-pass variance).
};
std::string_view InputsName(Inputs inputs);

struct AdversarialCase {
  Problem problem;
  Inputs inputs;
};

class KernelType {
 public:
  virtual ~KernelType() = default;

  virtual std::string_view Name() const = 0;
  // "kernel_" + Name(): the extern "C" symbol a candidate defines.
  std::string Symbol() const;
  // "M=7,N=13,K=17".
  std::string Describe(const Problem& problem) const;
  // "gflops" (compute-bound types) or "gbps" (memory-bound ones).
  virtual std::string_view MetricKey() const = 0;
  // Memory-bound types are timed with caches flushed before every sample.
  virtual bool MemoryBound() const = 0;

  virtual Problem Smoke() const = 0;
  // >= 8 problems, including tiny, odd and prime sizes.
  virtual std::vector<Problem> Sweep() const = 0;
  virtual std::vector<AdversarialCase> Adversarial() const = 0;
  // Problems called several times to prove bitwise-identical results.
  virtual std::vector<Problem> Determinism() const = 0;
  // The timed problems (including the trainer's shapes).
  virtual std::vector<Problem> Bench() const = 0;

  // Element counts of the inputs, in the order of the entry point's arguments.
  virtual std::vector<int64_t> InputSizes(const Problem& p) const = 0;
  virtual int64_t OutputSize(const Problem& p) const = 0;
  // Fills `in` (resized here) deterministically from seed.
  virtual void Fill(const Problem& p, Inputs inputs, uint64_t seed,
                    std::vector<Floats>& in) const = 0;
  // Calls the entry point (as returned by dlsym) once.
  virtual void Call(void* entry, const Problem& p, const std::vector<const float*>& in, float* out,
                    int threads) const = 0;

  // The output is checked in rows of OutputSize / Rows elements.
  virtual int64_t Rows(const Problem& p) const = 0;
  virtual void Reference(const Problem& p, const std::vector<const float*>& in, int64_t row,
                         double* ref, double* scale) const = 0;
  // Relative tolerance for kNormal inputs: an output element passes when
  // |out - ref| <= tolerance * scale (see kbench_reference.h).
  virtual double Tolerance(const Problem& p) const = 0;
  // FLOPs (gflops types) or bytes moved (gbps types) of one call.
  virtual double Work(const Problem& p) const = 0;

 protected:
  virtual std::vector<std::string_view> DimNames() const = 0;
};

// nullptr when the name is unknown.
const KernelType* FindKernelType(std::string_view name);
// "matmul, softmax, ..." for messages.
std::string KernelTypeNames();

}  // namespace ratchet::kbench

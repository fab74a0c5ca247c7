// Nothing is allocated inside the step loop: a replaced global operator new
// counts C++ heap allocations while the model, optimizer, data loader and the
// whole training loop run.
#include <atomic>
#include <cstdlib>
#include <new>
#include <ostream>

#include <gtest/gtest.h>

#include "trainer/dnnl_pieces.h"
#include "trainer/gemm_bf16.h"
#include "trainer/gemm_fp32.h"
#include "trainer/train_loop.h"
#include "trainer_test_util.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace ratchet::train {
namespace {

// The fp32 products on OpenBLAS, which allocates nothing per call; oneDNN's
// execute does (NoAllocOneDnnTest below).
class NoAllocTest : public ::testing::TestWithParam<nlohmann::json> {
 protected:
  NoAllocTest() {
    data_ = (dir_.path() / "train.bin").string();
    testing::WriteText(data_, testing::SampleText());
    SetFp32GemmForTesting(Fp32Gemm::kOpenBlas);
  }
  ~NoAllocTest() override { SetFp32GemmForTesting(chosen_); }
  const Fp32Gemm chosen_ = Fp32GemmHere();
  testing::TempDir dir_;
  std::string data_;
};

TEST_P(NoAllocTest, StepsAllocateNothing) {
  Config c = testing::TinyConfig(GetParam());
  DataLoader data(data_, c.seq_len, 1);
  Model model(c, c.batch_size, c.seq_len, true);
  model.InitParams(1);
  Optimizer opt(c, model.tensors());
  std::vector<uint8_t> in(c.batch_size * c.seq_len), tg(in.size());
  OpTimes times;
  model.set_profile(&times);
  auto step = [&] {
    model.ZeroGrads();
    data.NextBatch(in.data(), tg.data(), c.batch_size, c.seq_len);
    model.ForwardBackward(in.data(), tg.data(), c.batch_size, c.seq_len, 1.0f);
    opt.Step(model.params(), model.grads(), 0.5);
    model.ForwardNll(in.data(), tg.data(), 1, c.seq_len - 1, model.grads());  // any [N] buffer
  };
  step();  // warm-up: OpenMP / BLAS start their threads
  const long before = g_allocations.load();
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(g_allocations.load() - before, 0);
}

TEST_P(NoAllocTest, TrainLoopAllocationsDoNotGrowWithSteps) {
  Config c = testing::TinyConfig(GetParam());
  std::ostream sink(nullptr);  // discards progress lines
  auto count = [&](int64_t steps) {
    DataLoader data(data_, c.seq_len, 1);
    Model model(c, c.batch_size, c.seq_len, true);
    Optimizer opt(c, model.tensors());
    const long before = g_allocations.load();
    TrainLoop(model, opt, data, {Budget::Kind::kTokens, 0, steps * c.tokens_per_step()}, 1, false,
              sink);
    return g_allocations.load() - before;
  };
  count(1);  // warm-up
  EXPECT_EQ(count(2), count(12));
}

INSTANTIATE_TEST_SUITE_P(
    Configs, NoAllocTest,
    ::testing::Values(nlohmann::json::object(),
                      nlohmann::json{{"activation", "swiglu"}, {"norm", "rmsnorm"}, {"pos", "rope"},
                                     {"qk_norm", true}, {"tie_embeddings", true},
                                     {"logit_softcap", 10.0}, {"optimizer", "muon"},
                                     {"grad_accum", 2}}));

// Steps of the products on oneDNN (bf16, or f32 where it is the process's
// choice: gemm_fp32.h): the trainer's own code allocates nothing, but
// oneDNN's execute builds its map of arguments on the heap in every call
// (freed before it returns: dnnl_pieces.h). So each step allocates the same
// small count, with nothing kept: the count does not change from step to
// step. Returns the first measured step's count.
long ExpectTheSameCountEveryStep(const Config& c) {
  testing::TempDir dir;
  const std::string data = (dir.path() / "train.bin").string();
  testing::WriteText(data, testing::SampleText());
  DataLoader loader(data, c.seq_len, 1);
  Model model(c, c.batch_size, c.seq_len, true);
  model.InitParams(1);
  Optimizer opt(c, model.tensors());
  std::vector<uint8_t> in(c.batch_size * c.seq_len), tg(in.size());
  auto step = [&] {
    const long before = g_allocations.load();
    model.ZeroGrads();
    loader.NextBatch(in.data(), tg.data(), c.batch_size, c.seq_len);
    model.ForwardBackward(in.data(), tg.data(), c.batch_size, c.seq_len, 1.0f);
    opt.Step(model.params(), model.grads(), 0.5);
    return g_allocations.load() - before;
  };
  step();  // warm-up: primitives, streams and scratch made once
  const long first = step();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(step(), first);
  return first;
}

// A step makes 3 (4 L + 1) product calls (forward, input and weight
// gradients of 4 matrices a layer and the head), one piece each at this
// size: a few blocks per oneDNN call (measured 148 a step, ~5.5 a call).
TEST(NoAllocBf16Test, StepsAllocateTheSameCountInsideOneDnnOnly) {
  if (!Bf16Supported()) GTEST_SKIP() << "this CPU has no " << kBf16Feature;
  Config c = testing::TinyConfig({{"precision", "bf16"}, {"tie_embeddings", true}});
  EXPECT_LE(ExpectTheSameCountEveryStep(c), 8 * 3 * (4 * c.n_layer + 1));
}

TEST(NoAllocOneDnnTest, Fp32StepsAllocateTheSameCountInsideOneDnnOnly) {
  if (!dnnl_has_avx512()) GTEST_SKIP() << "oneDNN runs " << dnnl_isa_name() << " here";
  const Fp32Gemm chosen = Fp32GemmHere();
  SetFp32GemmForTesting(Fp32Gemm::kOneDnn);
  Config c = testing::TinyConfig({{"tie_embeddings", true}});
  EXPECT_LE(ExpectTheSameCountEveryStep(c), 8 * 3 * (4 * c.n_layer + 1));
  SetFp32GemmForTesting(chosen);
}

}  // namespace
}  // namespace ratchet::train

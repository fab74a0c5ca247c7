// ratchet-bench-attention: the trainer's causal attention, forward and
// backward, on one of bench/trainer_vs_torch.sh's configs, against the peer
// rate of the BLAS's sgemm on the same threads and the step's largest weight
// product, timed in the same process (OMP_NUM_THREADS sets the threads).
//
//   ratchet-bench-attention [tiny|small|wide4|deep8] [REPEATS]
//
// Each layer gets its own buffers, as in a training step, so the operands come
// from memory rather than cache; the best of REPEATS passes over all layers
// counts. FLOPs are the causal ones (the six T x T x hs products, halved).
// Prints one JSON line.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "trainer/gemm_bf16.h"
#include "trainer/ops.h"
#include "trainer/runtime_env.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  int layers, channels, heads, seq_len, batch;
};

constexpr Shape kShapes[] = {{"tiny", 4, 128, 4, 128, 16},
                             {"small", 6, 256, 8, 256, 16},
                             {"wide4", 4, 384, 6, 256, 16},
                             {"deep8", 8, 256, 8, 256, 16}};

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  ratchet::train::TuneRuntimeEnvironment(argv);  // the OpenBLAS kernel ratchet-train runs
  const char* name = argc > 1 ? argv[1] : "wide4";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 10;
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes) {
    if (std::strcmp(s.name, name) == 0) shape = &s;
  }
  if (!shape || repeats < 1) {
    std::fprintf(stderr, "usage: %s [tiny|small|wide4|deep8] [REPEATS >= 1]\n", argv[0]);
    return 2;
  }
  const int L = shape->layers, C = shape->channels, NH = shape->heads, T = shape->seq_len;
  const int B = shape->batch, N = B * T;
  std::mt19937 rng(1);
  struct Layer {
    std::vector<float> qkv, att, out, dout, dqkv;
    std::vector<uint16_t> probs;  // bf16's att
  };
  std::vector<Layer> layers(L);
  for (Layer& l : layers) {
    l.qkv = Random(static_cast<size_t>(N) * 3 * C, rng);
    l.dout = Random(static_cast<size_t>(N) * C, rng);
    l.att.assign(static_cast<size_t>(B) * NH * T * T, 0.0f);
    l.probs.assign(ratchet::train::attention_bf16_probs_size(B, T, NH), 0);
    l.out.assign(static_cast<size_t>(N) * C, 0.0f);
    l.dqkv.assign(static_cast<size_t>(N) * 3 * C, 0.0f);
  }
  // Best forward and backward times of each precision, passes interleaved.
  const bool bf16 = ratchet::train::Bf16Supported();
  double forward[2] = {1e30, 1e30}, backward[2] = {1e30, 1e30};
  for (int r = 0; r < repeats; r++) {
    for (int p = 0; p < (bf16 ? 2 : 1); p++) {
      auto t0 = Clock::now();
      for (Layer& l : layers) {
        if (p) {
          ratchet::train::attention_forward_bf16(l.out.data(), l.probs.data(), l.qkv.data(), B, T,
                                                 C, NH);
        } else {
          ratchet::train::attention_forward(l.out.data(), l.att.data(), l.qkv.data(), B, T, C, NH);
        }
      }
      forward[p] = std::min(forward[p], SecondsSince(t0));
      t0 = Clock::now();
      for (int i = L - 1; i >= 0; i--) {
        Layer& l = layers[i];
        if (p) {
          ratchet::train::attention_backward_bf16(l.dqkv.data(), l.dout.data(), l.qkv.data(),
                                                  l.out.data(), l.probs.data(), B, T, C, NH);
        } else {
          ratchet::train::attention_backward(l.dqkv.data(), l.dout.data(), l.qkv.data(),
                                             l.att.data(), B, T, C, NH);
        }
      }
      backward[p] = std::min(backward[p], SecondsSince(t0));
    }
  }
  // Peer: the MLP's up-projection, [N, C] x [C, 4C], the step's largest product.
  const auto a = Random(static_cast<size_t>(N) * C, rng),
             w = Random(static_cast<size_t>(C) * 4 * C, rng);
  std::vector<float> c(static_cast<size_t>(N) * 4 * C);
  double sgemm = 1e30;
  for (int r = 0; r < repeats; r++) {
    const auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, 4 * C, C, 1.0f, a.data(), C, w.data(),
                4 * C, 0.0f, c.data(), 4 * C);
    sgemm = std::min(sgemm, SecondsSince(t0));
  }
  const double hs = static_cast<double>(C) / NH;
  const double causal_flops = 6.0 * 2.0 * (T * (T + 1.0) / 2.0) * hs * B * NH * L;
  const double attention_gflops = causal_flops / (forward[0] + backward[0]) / 1e9;
  const double sgemm_gflops = 2.0 * N * 4.0 * C * C / sgemm / 1e9;
  std::printf(
      "{\"config\": \"%s\", \"threads\": %d, \"forward_ms\": %.2f, \"backward_ms\": %.2f, "
      "\"attention_gflops\": %.1f, \"sgemm_gflops\": %.1f, \"ratio\": %.3f, ",
      shape->name, omp_get_max_threads(), forward[0] * 1e3, backward[0] * 1e3, attention_gflops,
      sgemm_gflops, attention_gflops / sgemm_gflops);
  if (bf16) {
    std::printf("\"bf16_forward_ms\": %.2f, \"bf16_backward_ms\": %.2f, \"bf16_speedup\": %.3f, ",
                forward[1] * 1e3, backward[1] * 1e3,
                (forward[0] + backward[0]) / (forward[1] + backward[1]));
  }
  std::printf("\"blas_core\": \"%s\"}\n", openblas_get_corename());
}

// ratchet-bench-dnnl-matmul: do bf16 matrix products pay on this CPU? oneDNN's
// FP32 and bf16 matmul (bf16 operands, f32 accumulation and output) against
// OpenBLAS sgemm, on the trainer's shapes, in one process, on the threads
// OMP_NUM_THREADS gives (bench/dnnl_matmul.sh runs 1 and 2).
//
//   ratchet-bench-dnnl-matmul [tiny|small] [ROUNDS]
//
// Per config: one layer's products of a training step (forward x·W, input
// gradient dy·Wᵀ, weight gradient W += xᵀ·dy of qkv, attention output, MLP up
// and down), the tied head's three, and attention's six products per (batch,
// head) as batched products (dense [T, hs] operands; the trainer's are causal
// and strided in the packed qkv, so these are an upper bound of its work).
// Every variant is checked against OpenBLAS before timing (FP32: relative
// error 1e-4 of the result's scale; bf16: 2e-2); a mismatch exits 1. Then
// ROUNDS rounds time OpenBLAS, oneDNN f32, oneDNN bf16 and bf16 with the f32
// -> bf16 conversion of both operands, one sample each in turn (A B C D A B
// ...), each sample ~5 ms of repeated calls; medians count.
//
// The FP32 side runs twice: OpenBLAS threading the product itself, and the
// trainer's own way (trainer/gemm_pieces.h: single-threaded pieces fixed by
// shape; for the batched attention products both are one sgemm per batch).
// Prints one JSON line per product and one per kind of product, with GFLOP/s
// and the ratios bf16 / f32 (against the fastest FP32 of the three) and
// oneDNN-f32 / OpenBLAS, the OpenBLAS kernel and oneDNN's implementation.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "trainer/gemm_pieces.h"
#include "trainer/runtime_env.h"

extern "C" void openblas_set_num_threads(int);

namespace {

using Clock = std::chrono::steady_clock;
using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

struct Config {
  const char* name;
  int C, B, T, NH;
};
constexpr Config kConfigs[] = {{"tiny", 128, 16, 128, 4}, {"small", 256, 16, 256, 8}};
constexpr int kVocab = 256;

// C[batch][M,N] = op(A)[M,K] · op(B)[K,N] (+ C when accumulate), row-major.
struct Product {
  std::string kind, name;
  int batch, M, N, K;
  bool ta, tb, accumulate;
};

std::vector<Product> StepProducts(const Config& c) {
  const int C = c.C, N = c.B * c.T, hs = c.C / c.NH, T = c.T, bh = c.B * c.NH;
  std::vector<Product> p;
  struct Matrix {
    const char* name;
    int in, out;
  };
  const Matrix matrices[] = {{"qkv", C, 3 * C}, {"wo", C, C}, {"fc", C, 4 * C}, {"proj", 4 * C, C}};
  for (const Matrix& m : matrices) {
    p.push_back({"forward", m.name, 1, N, m.out, m.in, false, false, false});
    p.push_back({"input_grad", m.name, 1, N, m.in, m.out, false, true, false});
    p.push_back({"weight_grad", m.name, 1, m.in, m.out, N, true, false, true});
  }
  p.push_back({"forward", "head", 1, N, kVocab, C, false, true, false});    // x wteᵀ
  p.push_back({"input_grad", "head", 1, N, C, kVocab, false, false, false});  // dlogits wte
  p.push_back({"weight_grad", "head", 1, kVocab, C, N, true, false, true});   // dlogitsᵀ x
  p.push_back({"attention", "q.kT", bh, T, T, hs, false, true, false});
  p.push_back({"attention", "p.v", bh, T, hs, T, false, false, false});
  p.push_back({"attention", "do.vT", bh, T, T, hs, false, true, false});
  p.push_back({"attention", "pT.do", bh, T, hs, T, true, false, false});
  p.push_back({"attention", "ds.k", bh, T, hs, T, false, false, false});
  p.push_back({"attention", "dsT.q", bh, T, hs, T, true, false, false});
  return p;
}

// A [batch][rows, cols] row-major operand, or its transpose (`transposed`: stored
// [cols, rows]) as a oneDNN descriptor of logical shape [batch, rows, cols].
memory::desc Desc(int batch, int rows, int cols, Dt dt, bool transposed) {
  if (batch == 1) return memory::desc({rows, cols}, dt, transposed ? Tag::ba : Tag::ab);
  return memory::desc({batch, rows, cols}, dt, transposed ? Tag::acb : Tag::abc);
}

void ToBf16(uint16_t* out, const float* in, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i += 16) {
    if (i + 16 <= n) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                          (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(in + i)));
    } else {
      for (size_t j = i; j < n; j++) {
        uint32_t bits;
        std::memcpy(&bits, in + j, 4);
        out[j] = static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
      }
    }
  }
}

double Seconds(const std::function<void()>& run, int calls) {
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; i++) run();
  return std::chrono::duration<double>(Clock::now() - t0).count() / calls;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Largest |x - ref| over the largest |ref|.
double RelativeError(const std::vector<float>& x, const std::vector<float>& ref) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < x.size(); i++) {
    err = std::max(err, std::fabs(double(x[i]) - ref[i]));
    scale = std::max(scale, std::fabs(double(ref[i])));
  }
  return scale > 0 ? err / scale : err;
}

const char* IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2: return "avx2";
    default: return "other";
  }
}

}  // namespace

int main(int argc, char** argv) {
  ratchet::train::TuneRuntimeEnvironment(argv);  // the OpenBLAS kernel ratchet-train runs
  const char* name = argc > 1 ? argv[1] : "small";
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 11;
  const Config* config = nullptr;
  for (const Config& c : kConfigs) {
    if (std::strcmp(c.name, name) == 0) config = &c;
  }
  if (!config || rounds < 1) {
    std::fprintf(stderr, "usage: %s [tiny|small] [ROUNDS >= 1]\n", argv[0]);
    return 2;
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) {
    std::fprintf(stderr, "%s: this CPU has no avx512_bf16; nothing to measure\n", argv[0]);
    return 2;
  }
  const int threads = omp_get_max_threads();
  // sgemm_pieces sets OpenBLAS to one thread on its first call; OpenBLAS's
  // own threading gets them all back (the pieces still run one thread each:
  // this OpenMP build runs single-threaded inside a parallel region).
  float one = 1.0f;
  ratchet::train::sgemm_pieces(false, false, 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &one, 1);
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  struct Times {
    double openblas = 0, pieces = 0, dnnl_f32 = 0, dnnl_bf16 = 0, dnnl_bf16_conv = 0, flops = 0;
  };
  const auto BestFp32 = [](const Times& t) { return std::min({t.openblas, t.pieces, t.dnnl_f32}); };
  std::map<std::string, Times> kinds;
  Times all;
  for (const Product& p : StepProducts(*config)) {
    const size_t a_n = size_t(p.batch) * p.M * p.K, b_n = size_t(p.batch) * p.K * p.N,
                 c_n = size_t(p.batch) * p.M * p.N;
    std::vector<float> A(a_n), Bm(b_n), Cm(c_n), C0(c_n, 0.5f);
    for (float& x : A) x = normal(rng);
    for (float& x : Bm) x = normal(rng);
    std::vector<uint16_t> A16(a_n), B16(b_n);
    ToBf16(A16.data(), A.data(), a_n);
    ToBf16(B16.data(), Bm.data(), b_n);
    const float beta = p.accumulate ? 1.0f : 0.0f;
    const int lda = p.ta ? p.M : p.K, ldb = p.tb ? p.K : p.N;

    const auto openblas_run = [&] {
      if (p.batch == 1) {
        cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, p.M, p.N, p.K, 1.0f, A.data(), lda,
                    Bm.data(), ldb, beta, Cm.data(), p.N);
        return;
      }
      // Many small products: one single-threaded sgemm each, shared by OpenMP
      // (OpenBLAS's OpenMP build runs one thread inside a parallel region).
#pragma omp parallel for schedule(static)
      for (int b = 0; b < p.batch; b++) {
        cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, p.M, p.N, p.K, 1.0f,
                    A.data() + size_t(b) * p.M * p.K, lda, Bm.data() + size_t(b) * p.K * p.N, ldb,
                    beta, Cm.data() + size_t(b) * p.M * p.N, p.N);
      }
    };
    const auto pieces_run = [&] {
      if (p.batch > 1) return openblas_run();
      ratchet::train::sgemm_pieces(p.ta, p.tb, p.M, p.N, p.K, 1.0f, A.data(), lda, Bm.data(), ldb,
                                   beta, Cm.data(), p.N);
    };
    dnnl::primitive_attr attr;
    if (p.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    const auto make = [&](Dt dt) {
      const auto a_md = Desc(p.batch, p.M, p.K, dt, p.ta);
      const auto b_md = Desc(p.batch, p.K, p.N, dt, p.tb);
      const auto c_md = Desc(p.batch, p.M, p.N, Dt::f32, false);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine);
    };
    const auto f32_pd = make(Dt::f32), bf16_pd = make(Dt::bf16);
    dnnl::matmul f32_mm(f32_pd), bf16_mm(bf16_pd);
    memory a32(f32_pd.src_desc(), engine, A.data()), b32(f32_pd.weights_desc(), engine, Bm.data());
    memory a16(bf16_pd.src_desc(), engine, A16.data()),
        b16(bf16_pd.weights_desc(), engine, B16.data());
    memory c32(f32_pd.dst_desc(), engine, Cm.data());
    const auto dnnl_f32_run = [&] {
      f32_mm.execute(stream, {{DNNL_ARG_SRC, a32}, {DNNL_ARG_WEIGHTS, b32}, {DNNL_ARG_DST, c32}});
      stream.wait();
    };
    const auto dnnl_bf16_run = [&] {
      bf16_mm.execute(stream, {{DNNL_ARG_SRC, a16}, {DNNL_ARG_WEIGHTS, b16}, {DNNL_ARG_DST, c32}});
      stream.wait();
    };
    const auto dnnl_bf16_conv_run = [&] {
      ToBf16(A16.data(), A.data(), a_n);
      ToBf16(B16.data(), Bm.data(), b_n);
      dnnl_bf16_run();
    };

    // Checked before timing: each variant from the same C0 against OpenBLAS.
    const auto result = [&](const std::function<void()>& run) {
      Cm = C0;
      run();
      return Cm;
    };
    const auto ref = result(openblas_run);
    const double err_f32 = std::max(RelativeError(result(dnnl_f32_run), ref),
                                    RelativeError(result(pieces_run), ref));
    const double err_bf16 = RelativeError(result(dnnl_bf16_run), ref);
    if (err_f32 > 1e-4 || err_bf16 > 2e-2) {
      std::fprintf(stderr, "%s %s %s: wrong result (relative error f32 %.2e, bf16 %.2e)\n",
                   config->name, p.kind.c_str(), p.name.c_str(), err_f32, err_bf16);
      return 1;
    }

    const std::function<void()> runs[] = {openblas_run, pieces_run, dnnl_f32_run, dnnl_bf16_run,
                                          dnnl_bf16_conv_run};
    constexpr int kVariants = 5;
    for (const auto& run : runs) run();  // warm-up
    const int calls = std::max(1, int(5e-3 / Seconds(openblas_run, 1)));
    std::vector<double> samples[kVariants];
    for (int r = 0; r < rounds; r++) {
      for (int v = 0; v < kVariants; v++) samples[v].push_back(Seconds(runs[v], calls));
    }
    Times t{Median(samples[0]), Median(samples[1]), Median(samples[2]),
            Median(samples[3]), Median(samples[4]), 2.0 * p.batch * p.M * p.N * p.K};
    const auto gf = [&](double s) { return t.flops / s * 1e-9; };
    std::printf(
        "{\"config\": \"%s\", \"threads\": %d, \"kind\": \"%s\", \"product\": \"%s\", "
        "\"shape\": \"%dx[%dx%d%s . %dx%d%s]\", \"gflops\": {\"openblas\": %.1f, \"pieces\": %.1f, "
        "\"dnnl_f32\": "
        "%.1f, \"dnnl_bf16\": %.1f, \"dnnl_bf16_with_conversion\": %.1f}, "
        "\"bf16_over_best_f32\": %.2f, \"bf16_conv_over_best_f32\": %.2f, "
        "\"dnnl_f32_over_openblas\": %.2f, \"err_bf16\": %.1e, \"dnnl_impl\": \"%s | %s\"}\n",
        config->name, threads, p.kind.c_str(), p.name.c_str(), p.batch, p.M, p.K,
        p.ta ? "(T)" : "", p.K, p.N, p.tb ? "(T)" : "", gf(t.openblas), gf(t.pieces),
        gf(t.dnnl_f32), gf(t.dnnl_bf16), gf(t.dnnl_bf16_conv), BestFp32(t) / t.dnnl_bf16,
        BestFp32(t) / t.dnnl_bf16_conv, t.openblas / t.dnnl_f32, err_bf16,
        f32_pd.impl_info_str(), bf16_pd.impl_info_str());
    for (Times* sum : {&kinds[p.kind], &all}) {
      sum->openblas += t.openblas;
      sum->pieces += t.pieces;
      sum->dnnl_f32 += t.dnnl_f32;
      sum->dnnl_bf16 += t.dnnl_bf16;
      sum->dnnl_bf16_conv += t.dnnl_bf16_conv;
      sum->flops += t.flops;
    }
  }
  kinds["total"] = all;
  for (const auto& [kind, t] : kinds) {
    std::printf(
        "{\"config\": \"%s\", \"threads\": %d, \"kind\": \"%s\", \"ms\": {\"openblas\": %.3f, "
        "\"pieces\": %.3f, \"dnnl_f32\": %.3f, \"dnnl_bf16\": %.3f, \"dnnl_bf16_with_conversion\": %.3f}, "
        "\"bf16_over_best_f32\": %.2f, \"bf16_conv_over_best_f32\": %.2f, "
        "\"dnnl_f32_over_openblas\": %.2f, \"blas_core\": \"%s\", \"dnnl_isa\": \"%s\"}\n",
        config->name, threads, kind.c_str(), t.openblas * 1e3, t.pieces * 1e3, t.dnnl_f32 * 1e3,
        t.dnnl_bf16 * 1e3, t.dnnl_bf16_conv * 1e3, BestFp32(t) / t.dnnl_bf16,
        BestFp32(t) / t.dnnl_bf16_conv, t.openblas / t.dnnl_f32,
        openblas_get_corename(), IsaName(dnnl::get_effective_cpu_isa()));
  }
}

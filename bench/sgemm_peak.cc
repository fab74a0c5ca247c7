// ratchet-bench-sgemm: the peer measurement of bench/trainer_vs_torch.sh.
//
// Times single-precision GEMM through the CBLAS interface on the matrix shapes
// a transformer training step runs (the `small` config: B*T = 4096 rows,
// C = 256, 4C MLP, and the transposed products of the backward pass), so the
// trainer's achieved FLOP/s can be compared with what the BLAS itself reaches
// on this machine with the same threads. It links libblas.so.3, so
// LD_LIBRARY_PATH picks the implementation (openblas-openmp, blis-openmp, ...).
// Each shape is checked against a naive product on a sample of entries before
// timing; timing is warm-up plus repeats, reporting the median.
//
// Prints one JSON line per shape and a final {"best_gflops", "blas", "corename"}.
#include <dlfcn.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" {
enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                 float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                 float* c, int ldc);
}

namespace {

struct Shape {
  const char* name;
  int m, n, k;   // C[m,n] = op(A)[m,k] · op(B)[k,n]
  bool trans_a;  // A stored [k,m] (the weight-gradient products)
};

// The small config's step: forward x·W, backward dx = dy·Wᵀ, dW = xᵀ·dy.
constexpr Shape kShapes[] = {
    {"fwd qkv 4096x256 . 256x768", 4096, 768, 256, false},
    {"fwd fc 4096x256 . 256x1024", 4096, 1024, 256, false},
    {"fwd proj 4096x1024 . 1024x256", 4096, 256, 1024, false},
    {"fwd head 4096x256 . 256x256", 4096, 256, 256, false},
    {"wgrad fc 256x4096 . 4096x1024", 256, 1024, 4096, true},
    {"wgrad proj 1024x4096 . 4096x256", 1024, 256, 4096, true},
};

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 10;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  double best = 0;
  for (const Shape& s : kShapes) {
    std::vector<float> a(static_cast<size_t>(s.m) * s.k), b(static_cast<size_t>(s.k) * s.n),
        c(static_cast<size_t>(s.m) * s.n);
    for (float& v : a) v = uniform(rng);
    for (float& v : b) v = uniform(rng);
    auto run = [&] {
      cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, s.m, s.n, s.k,
                  1.0f, a.data(), s.trans_a ? s.m : s.k, b.data(), s.n, 0.0f, c.data(), s.n);
    };
    run();
    // Correctness on a sample of entries before any timing.
    for (int probe = 0; probe < 64; ++probe) {
      const int i = rng() % s.m, j = rng() % s.n;
      double expected = 0;
      for (int p = 0; p < s.k; ++p) {
        const float av =
            s.trans_a ? a[static_cast<size_t>(p) * s.m + i] : a[static_cast<size_t>(i) * s.k + p];
        expected += static_cast<double>(av) * b[static_cast<size_t>(p) * s.n + j];
      }
      if (std::abs(expected - c[static_cast<size_t>(i) * s.n + j]) > 1e-3 * std::sqrt(s.k)) {
        std::fprintf(stderr, "ratchet-bench-sgemm: wrong result for %s at (%d, %d)\n", s.name, i,
                     j);
        return 1;
      }
    }
    run();  // warm-up
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r) {
      const double start = Seconds();
      run();
      times.push_back(Seconds() - start);
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double gflops = 2.0 * s.m * s.n * s.k / median / 1e9;
    best = std::max(best, gflops);
    std::printf(
        "{\"shape\": \"%s\", \"median_ms\": %.3f, \"gflops\": %.1f, \"spread_pct\": %.1f}\n",
        s.name, median * 1e3, gflops, 100.0 * (times.back() - times.front()) / median);
  }
  // Which BLAS answered: the file that provides cblas_sgemm, and OpenBLAS's
  // kernel name (BLIS has no such call).
  Dl_info info{};
  char resolved[4096] = "?";
  if (dladdr(reinterpret_cast<void*>(&cblas_sgemm), &info) && info.dli_fname) {
    if (!realpath(info.dli_fname, resolved))
      std::snprintf(resolved, sizeof resolved, "%s", info.dli_fname);
  }
  const char* blas = resolved;
  using CoreName = char* (*)();
  auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  std::printf("{\"best_gflops\": %.1f, \"blas\": \"%s\", \"corename\": \"%s\"}\n", best, blas,
              corename ? corename() : "-");
  return 0;
}

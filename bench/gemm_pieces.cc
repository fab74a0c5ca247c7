// ratchet-bench-gemm-pieces: the trainer's matrix products cut into pieces
// fixed by shape (trainer/gemm_pieces.h, thread-count invariant) against the
// same products threaded by OpenBLAS itself (not invariant), on the same
// threads in the same process (OMP_NUM_THREADS sets them).
//
//   ratchet-bench-gemm-pieces [tiny|small|wide4] [REPEATS]
//
// One layer's products of a training step (forward, input gradients, weight
// gradients), the tied head's, and Muon's Newton-Schulz products of the
// layer's hidden matrices. Each product is timed both ways in turn, best of
// REPEATS each. Prints one JSON line per kind of product and a total, with
// the OpenBLAS kernel that ran. A third variant runs the same pieces through
// oneDNN's f32 matmul (trainer/gemm_fp32.h; Newton-Schulz's symmetric
// products stay on OpenBLAS, so there it repeats the pieces' figure).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "trainer/dnnl_pieces.h"
#include "trainer/gemm_fp32.h"
#include "trainer/gemm_pieces.h"
#include "trainer/runtime_env.h"

extern "C" void openblas_set_num_threads(int);

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  const char* name;
  int channels, tokens;  // C, B * T
};

constexpr Config kConfigs[] = {{"tiny", 128, 2048}, {"small", 256, 4096}, {"wide4", 384, 4096}};
constexpr int kVocab = 256;

// One product C[M,N] = op(A) op(B) (+ C when accumulate), dense operands;
// symmetric ones are C = A Aᵀ with A [M,K].
struct Product {
  std::string kind;  // forward, input_grad, weight_grad, newton_schulz
  bool ta, tb;
  int M, N, K;
  bool accumulate = false, symmetric = false;
};

// The products of one layer and the head for C channels and N tokens
// (trainer/model.cc; GELU MLP of 4C, V = 256 tied head).
std::vector<Product> StepProducts(int C, int N) {
  std::vector<Product> p;
  const int shapes[][2] = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C}};  // [in, out]
  for (const auto& s : shapes) {
    const int in = s[0], out = s[1];
    p.push_back({"forward", false, false, N, out, in});
    p.push_back({"input_grad", false, true, N, in, out});
    p.push_back({"weight_grad", true, false, in, out, N, true});
  }
  p.push_back({"forward", false, true, N, kVocab, C});       // logits = x wteᵀ
  p.push_back({"input_grad", false, false, N, C, kVocab});   // dx = dlogits wte
  p.push_back({"weight_grad", true, false, kVocab, C, N, true});
  // Newton-Schulz on the wide orientation [m, n]: A = X Xᵀ, A A, Bm X.
  for (const auto& s : shapes) {
    const int m = std::min(s[0], s[1]), n = std::max(s[0], s[1]);
    p.push_back({"newton_schulz", false, false, m, 0, n, false, true});
    p.push_back({"newton_schulz", false, false, m, 0, m, false, true});
    p.push_back({"newton_schulz", false, false, m, n, m, true});
  }
  return p;
}

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double Seconds(const std::function<void()>& run) {
  const auto t0 = Clock::now();
  run();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The best of `repeats` timings of each, taken in turn so that a change in the
// machine's load falls on all.
std::vector<double> BestOfEach(int repeats, const std::vector<std::function<void()>>& runs) {
  std::vector<double> best(runs.size(), 1e30);
  for (int r = 0; r < repeats; r++) {
    for (size_t i = 0; i < runs.size(); i++) best[i] = std::min(best[i], Seconds(runs[i]));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  ratchet::train::TuneRuntimeEnvironment(argv);  // the OpenBLAS kernel ratchet-train runs
  const char* name = argc > 1 ? argv[1] : "small";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 10;
  const Config* config = nullptr;
  for (const Config& c : kConfigs) {
    if (std::strcmp(c.name, name) == 0) config = &c;
  }
  if (!config || repeats < 1) {
    std::fprintf(stderr, "usage: %s [tiny|small|wide4] [REPEATS >= 1]\n", argv[0]);
    return 2;
  }
  const int threads = omp_get_max_threads();
  // OpenBLAS threads the whole product on `threads`; the pieces still run one
  // thread each, since this OpenMP build of OpenBLAS runs single-threaded
  // inside a parallel region. (sgemm_pieces sets OpenBLAS to one thread on
  // its first call, hence the dummy call before.)
  float one = 1.0f;
  ratchet::train::sgemm_pieces(false, false, 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &one, 1);
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  std::mt19937 rng(1);
  struct Totals {
    double openblas = 0, pieces = 0, dnnl = 0;
  };
  std::vector<std::pair<std::string, Totals>> kinds;
  Totals all;
  for (const Product& p : StepProducts(config->channels, config->tokens)) {
    const int N = p.symmetric ? p.M : p.N;
    const auto A = Random(static_cast<size_t>(p.M) * p.K, rng);
    const auto B = Random(static_cast<size_t>(p.K) * std::max(N, 1), rng);
    std::vector<float> C(static_cast<size_t>(p.M) * N, 0.0f);
    const int lda = p.ta ? p.M : p.K, ldb = p.tb ? p.K : N;
    const float beta = p.accumulate ? 1.0f : 0.0f;
    const auto openblas_run = [&] {
      if (p.symmetric) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, p.M, p.K, 1.0f, A.data(), p.K, 0.0f,
                    C.data(), p.M);
        for (int i = 0; i < p.M; i++) {
          for (int j = 0; j < i; j++) C[size_t(i) * p.M + j] = C[size_t(j) * p.M + i];
        }
      } else {
        cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, p.M, N, p.K, 1.0f, A.data(), lda, B.data(),
                    ldb, beta, C.data(), N);
      }
    };
    const auto pieces_run = [&] {
      if (p.symmetric) {
        ratchet::train::ssyrk_pieces(p.M, p.K, 1.0f, A.data(), p.K, 0.0f, C.data(), p.M);
      } else {
        ratchet::train::sgemm_pieces(p.ta, p.tb, p.M, N, p.K, 1.0f, A.data(), lda, B.data(), ldb,
                                     beta, C.data(), N);
      }
    };
    const auto dnnl_run = [&] {
      if (p.symmetric) {
        pieces_run();
      } else {
        ratchet::train::fp32gemm_pieces(ratchet::train::Fp32Gemm::kOneDnn, p.ta, p.tb, p.M, N, p.K,
                                        A.data(), lda, B.data(), ldb, beta, C.data(), N);
      }
    };
    dnnl_run();  // its primitives are made on first use
    const auto best = BestOfEach(repeats, {openblas_run, pieces_run, dnnl_run});
    const double openblas = best[0], pieces = best[1], dnnl = best[2];
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](auto& k) { return k.first == p.kind; });
    if (it == kinds.end()) it = kinds.insert(kinds.end(), {p.kind, {}});
    it->second.openblas += openblas;
    it->second.pieces += pieces;
    it->second.dnnl += dnnl;
    all.openblas += openblas;
    all.pieces += pieces;
    all.dnnl += dnnl;
  }
  kinds.push_back({"total", all});
  for (const auto& [kind, t] : kinds) {
    std::printf(
        "{\"config\": \"%s\", \"products\": \"%s\", \"threads\": %d, \"openblas_ms\": %.3f, "
        "\"pieces_ms\": %.3f, \"speed_ratio\": %.3f, \"dnnl_pieces_ms\": %.3f, "
        "\"dnnl_over_pieces\": %.3f, \"blas_core\": \"%s\", \"dnnl_isa\": \"%s\"}\n",
        config->name, kind.c_str(), threads, t.openblas * 1e3, t.pieces * 1e3,
        t.openblas / t.pieces, t.dnnl * 1e3, t.pieces / t.dnnl, openblas_get_corename(),
        ratchet::train::dnnl_isa_name());
  }
}

// The fp32 products' library, chosen once per process (gemm_fp32.h).
//
// Why this rule (bench/gemm_pieces.sh and bench/dnnl_matmul.sh on the
// trainer's shapes, Zen 5; bench/RESULTS.md "oneDNN f32 products"): in the
// trainer's pieces oneDNN's AVX-512 f32 matmul ran every kind of weight
// product (forward, input and weight gradients) of tiny and small 5-40%
// faster than OpenBLAS's sgemm (totals 8-20%), under OpenBLAS's AVX-512
// kernels (Cooperlake) and under its Haswell ones alike (oneDNN threading
// itself against OpenBLAS's Haswell kernels: 1.8-2.1x in an earlier run).
// No kind ran slower, so there is no per-shape rule. Newton-Schulz's
// products (Muon) stay on OpenBLAS: its symmetric ones have no oneDNN twin.
#include "trainer/gemm_fp32.h"

#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>

#include "trainer/dnnl_pieces.h"
#include "trainer/gemm_pieces.h"

namespace ratchet::train {

namespace {

// -1 until the first Fp32GemmHere, else the Fp32Gemm in force.
int g_choice = -1;

// Whether oneDNN can make an f32 matmul on this CPU at all.
bool DnnlAvailable() {
  try {
    using dnnl::memory;
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    const memory::desc md({16, 16}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, md, md), engine);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

const char* Fp32GemmName(Fp32Gemm gemm) {
  return gemm == Fp32Gemm::kOneDnn ? "onednn" : "openblas";
}

Fp32Gemm ChooseFp32Gemm(bool dnnl_available, bool dnnl_avx512) {
  return dnnl_available && dnnl_avx512 ? Fp32Gemm::kOneDnn : Fp32Gemm::kOpenBlas;
}

Fp32Gemm Fp32GemmHere() {
  if (g_choice < 0) {
    const char* forced = std::getenv("RATCHET_FP32_GEMM");
    Fp32Gemm gemm;
    if (forced && std::strcmp(forced, "onednn") == 0) {
      gemm = Fp32Gemm::kOneDnn;
    } else if (forced && std::strcmp(forced, "openblas") == 0) {
      gemm = Fp32Gemm::kOpenBlas;
    } else {
      gemm = ChooseFp32Gemm(DnnlAvailable(), dnnl_has_avx512());
    }
    g_choice = static_cast<int>(gemm);
  }
  return static_cast<Fp32Gemm>(g_choice);
}

void SetFp32GemmForTesting(Fp32Gemm gemm) { g_choice = static_cast<int>(gemm); }

void fp32gemm_pieces(Fp32Gemm gemm, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                     int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (gemm == Fp32Gemm::kOneDnn) {
    dnnl_pieces(DnnlOperands::kF32, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
  } else {
    sgemm_pieces(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  }
}

}  // namespace ratchet::train

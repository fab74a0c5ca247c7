// bf16 products: operands rounded, then oneDNN matmul pieces (gemm_bf16.h).
#include "trainer/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

#include "trainer/dnnl_pieces.h"

namespace ratchet::train {

namespace {

// Round to nearest even, NaN kept quiet: what _mm512_cvtneps_pbh does.
uint16_t Bf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// The bf16 copies of both operands: one buffer each, grown the first time a
// size is met, never shrunk.
uint16_t* Scratch(int which, size_t n) {
  static std::vector<uint16_t> scratch[2];
  if (scratch[which].size() < n) scratch[which].resize(n);
  return scratch[which].data();
}

}  // namespace

__attribute__((target("avx512f,avx512bf16"))) void to_bf16_row(uint16_t* out, const float* in,
                                                               int cols) {
  int c = 0;
  for (; c + 16 <= cols; c += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c),
                        (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(in + c)));
  }
  for (; c < cols; c++) out[c] = Bf16Bits(in[c]);
}

void to_bf16(uint16_t* out, const float* in, int rows, int cols, int ld) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    to_bf16_row(out + static_cast<size_t>(r) * cols, in + static_cast<size_t>(r) * ld, cols);
  }
}

bool Bf16Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

void bf16gemm_pieces(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
  assert(Bf16Supported() && !omp_in_parallel() && (beta == 0.0f || beta == 1.0f));
  // Stored shapes: A is [K, M] when transposed, else [M, K]; B likewise.
  const int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  uint16_t* a16 = Scratch(0, static_cast<size_t>(a_rows) * a_cols);
  uint16_t* b16 = Scratch(1, static_cast<size_t>(b_rows) * b_cols);
  to_bf16(a16, A, a_rows, a_cols, lda);
  to_bf16(b16, B, b_rows, b_cols, ldb);
  bf16gemm_pieces_rounded(trans_a, trans_b, M, N, K, a16, a_cols, b16, b_cols, beta, C, ldc);
}

void bf16gemm_pieces_rounded(bool trans_a, bool trans_b, int M, int N, int K, const uint16_t* A,
                             int lda, const uint16_t* B, int ldb, float beta, float* C, int ldc) {
  assert(Bf16Supported() && !omp_in_parallel() && (beta == 0.0f || beta == 1.0f));
  dnnl_pieces(DnnlOperands::kBf16, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void round_to_bf16(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const uint32_t bits = static_cast<uint32_t>(Bf16Bits(in[i])) << 16;
    std::memcpy(out + i, &bits, 4);
  }
}

}  // namespace ratchet::train

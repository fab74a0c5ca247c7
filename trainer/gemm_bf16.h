// Matrix products with bf16 operands and f32 sums, for `"precision": "bf16"`.
//
// Both operands are rounded to bf16 (round to nearest even) into scratch
// buffers, then multiplied by oneDNN's matmul (AVX512_BF16 dot products or
// AMX where the CPU has them), summing and writing in f32. The product is cut
// into the same shape-fixed pieces as sgemm_pieces (dnnl_pieces.h), each one
// single-threaded oneDNN call shared by an OpenMP loop, so on one CPU the
// results are bitwise the same for any thread count. They are not the same
// across CPUs with different bf16 instructions (AVX512_BF16 vs AMX sum in
// other orders), and of course not the same as the FP32 products: each
// operand carries 8 bits of mantissa, so a product's relative error is
// ~2^-8 per term, averaging down over the sum (measured in gemm_bf16_test).
//
// Allocation: primitives, streams and scratch are made the first time a
// shape is met; after that this code allocates nothing, but oneDNN's execute
// itself puts its map of arguments on the heap in every call (~5 small blocks,
// freed before it returns; tests/trainer/no_alloc_test.cc).
//
// The operands can also come already rounded (to_bf16 +
// bf16gemm_pieces_rounded): the trainer rounds each weight and activation
// once per micro-batch and hands the copy to every product that reads it
// (forward, input and weight gradient), where bf16gemm_pieces would round it
// again in each. The products see the same bf16 values either way, so the
// results are bitwise the same.
//
// Bf16Supported() says whether this CPU can; the trainer checks it once, on
// entry (train_loop.cc), and refuses a bf16 config on a CPU without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ratchet::train {

// True when this CPU has the AVX512_BF16 instructions (avx512_bf16 in
// /proc/cpuinfo) the bf16 products need.
bool Bf16Supported();

// The CPU feature a bf16 product needs, as /proc/cpuinfo names it.
inline constexpr const char* kBf16Feature = "avx512_bf16";

// C[M,N] = op(A) · op(B) + beta · C (beta 0 or 1), row-major, op(X) = Xᵀ when
// trans_x, as sgemm_pieces with alpha 1, with A and B rounded to bf16.
// REQUIRES: Bf16Supported(). Call at top level (not inside an OpenMP
// parallel region), from one thread at a time: the bf16 copies of the
// operands live in one scratch buffer, grown the first time a size is met.
void bf16gemm_pieces(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc);

// Rounds rows x cols floats (rows ld apart) to dense bf16 out[rows, cols]
// (uint16_t holding a float's top 16 bits; nearest even, NaN stays NaN): the
// copy bf16gemm_pieces makes of each operand. REQUIRES: Bf16Supported(); call
// at top level (an OpenMP loop over the rows).
void to_bf16(uint16_t* out, const float* in, int rows, int cols, int ld);

// One row of to_bf16: out[0, cols) = in[0, cols) rounded. For ops that round
// their own output while it is in cache (layernorm_forward_bf16, ...); any
// thread may call it. REQUIRES: Bf16Supported().
void to_bf16_row(uint16_t* out, const float* in, int cols);

// As bf16gemm_pieces, with A and B already rounded (to_bf16; lda and ldb
// count bf16 values): bitwise the same result as bf16gemm_pieces on the f32
// operands they were rounded from. REQUIRES: as bf16gemm_pieces; needs no
// scratch, so any thread may call it (one at a time: dnnl_pieces.h).
void bf16gemm_pieces_rounded(bool trans_a, bool trans_b, int M, int N, int K, const uint16_t* A,
                             int lda, const uint16_t* B, int ldb, float beta, float* C, int ldc);

// Rounds n floats to bf16 (nearest even; NaN stays NaN) and back to float:
// what the bf16 products see of their operands. For tests.
void round_to_bf16(float* out, const float* in, size_t n);

}  // namespace ratchet::train

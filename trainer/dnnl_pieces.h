// Matrix products through oneDNN's matmul, cut into the shape-fixed pieces of
// sgemm_pieces (cut_product, gemm_pieces.h): the engine under the bf16
// products (gemm_bf16.h) and the oneDNN f32 products (gemm_fp32.h).
//
// Each piece is one oneDNN matmul planned for one thread and run inside an
// OpenMP loop over the pieces, so every output element is computed by the
// same call on 1 thread or 64: results are bitwise the same for any thread
// count on one CPU (not across CPUs whose oneDNN kernels differ: AVX2,
// AVX-512, AMX sum in other orders).
//
// Allocation: a primitive and its memory objects are made the first time a
// shape is met and kept for the process (a primitive costs far more to make
// than to run at the trainer's sizes). After that this code allocates
// nothing, but oneDNN's execute itself puts its map of arguments on the heap
// in every call (~5 small blocks, freed before it returns;
// tests/trainer/no_alloc_test.cc).
#pragma once

namespace ratchet::train {

// The operands' type: f32, or bf16 (uint16_t holding a float's top 16 bits).
enum class DnnlOperands { kF32, kBf16 };

// C[M,N] = op(A) · op(B) + beta · C (beta 0 or 1), row-major, op(X) = Xᵀ
// when trans_x; A and B of type `operands`, C f32, sums in f32.
// REQUIRES: called at top level (not inside an OpenMP parallel region), from
// one thread at a time (the primitives are made on first use of a shape).
void dnnl_pieces(DnnlOperands operands, bool trans_a, bool trans_b, int M, int N, int K,
                 const void* A, int lda, const void* B, int ldb, float beta, float* C, int ldc);

// oneDNN's instruction set on this CPU, as its names go ("avx512_core",
// "avx512_core_bf16", "avx2", ...).
const char* dnnl_isa_name();

// True when oneDNN runs AVX-512 kernels (avx512_core or better) here.
bool dnnl_has_avx512();

}  // namespace ratchet::train

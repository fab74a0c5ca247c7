// Matrix products whose results do not depend on the thread count.
//
// OpenBLAS threads a product by splitting it its own way, and how it splits
// depends on the kernel and the thread count: with the Haswell kernels (what
// Zen 2/3/5 run) the 1- and 2-thread results of one product differ in the last
// bits. Here the output is cut into pieces fixed by its shape alone, each
// piece is one single-threaded BLAS call, and OpenMP shares the pieces among
// the threads: every output element is computed by the same call on 1 thread
// or 64, so the trainer's results are bitwise the same for any thread count.
//
// The cut runs along the output's larger dimension, into a power of two of
// pieces (at most kMaxPieces, each at least kMinPiece wide, or
// kMinPieceLongSum when the inner sum is long, as in weight gradients, whose
// columns are more work; widths a multiple of 16 so pieces start on cache
// lines). Measured against OpenBLAS's own threading on the trainer's shapes
// (bench/gemm_pieces.sh, bench/RESULTS.md): as fast or faster per step.
#pragma once

namespace ratchet::train {

inline constexpr int kMinPiece = 256;         // rows or columns of the output per piece
inline constexpr int kMinPieceLongSum = 128;  // ... when K >= kLongSum
inline constexpr int kLongSum = 1024;
inline constexpr int kMaxPieces = 16;  // so products use up to 16 threads

// How many pieces an extent is cut into: a power of two, extent / pieces >=
// min_piece where possible, at most kMaxPieces. Depends on nothing else.
int product_pieces(int extent, int min_piece = kMinPiece);

// How a product C[M,N] with an inner sum of K is cut: along its rows
// (by_rows) or columns, into `pieces` pieces `width` wide (the last may be
// shorter). Depends on the shape alone. Shared by sgemm_pieces and the bf16
// products (gemm_bf16.h).
struct ProductCut {
  bool by_rows;
  int width, pieces;
};
ProductCut cut_product(int M, int N, int K);

// C[M,N] = alpha · op(A) · op(B) + beta · C, row-major, as cblas_sgemm with
// op(X) = Xᵀ when trans_x. Threads with OpenMP over the pieces; callable
// inside a parallel region too (then on the calling thread).
void sgemm_pieces(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Symmetric C[m,m] = alpha · A · Aᵀ + beta · C for A [m,k], row-major: row
// blocks compute the upper triangle (and their diagonal block), which is then
// copied onto the lower one, so C is exactly symmetric. About half sgemm's
// flops, as ssyrk.
void ssyrk_pieces(int m, int k, float alpha, const float* A, int lda, float beta, float* C,
                  int ldc);

}  // namespace ratchet::train

// bf16 products through oneDNN matmul, cut like sgemm_pieces (gemm_bf16.h).
#include "trainer/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "trainer/gemm_pieces.h"

namespace ratchet::train {

namespace {

using dnnl::memory;

// Round to nearest even, NaN kept quiet: what _mm512_cvtneps_pbh does.
uint16_t Bf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// rows x cols floats (leading dimension ld) -> dense bf16 [rows, cols].
__attribute__((target("avx512f,avx512bf16"))) void ToBf16(uint16_t* out, const float* in,
                                                           int rows, int cols, int ld) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) {
    const float* src = in + static_cast<size_t>(r) * ld;
    uint16_t* dst = out + static_cast<size_t>(r) * cols;
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c),
                          (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + c)));
    }
    for (; c < cols; c++) dst[c] = Bf16Bits(src[c]);
  }
}

// One piece's matmul and its three memory objects (data handles set per call).
struct Piece {
  dnnl::matmul matmul;
  memory src, weights, dst;
};

// What fixes a piece's primitive: its shape, the operands' layouts, beta.
using PieceKey = std::tuple<int, int, int, bool, bool, int, int, int, bool>;

// Engine, one stream per OpenMP thread, the primitives met so far, and the
// bf16 copies of the operands. Lives for the process: a primitive costs far
// more to create than to run at these sizes, so each shape's is made once.
class Bf16Context {
 public:
  Bf16Context() : engine_(dnnl::engine::kind::cpu, 0) {}

  dnnl::stream& StreamOfThisThread() {
    thread_local std::unique_ptr<dnnl::stream> stream;
    if (!stream) stream = std::make_unique<dnnl::stream>(engine_);
    return *stream;
  }

  // At least `count` pieces for key (m, n, k, ta, tb, lda, ldb, ldc,
  // accumulate): C's m x n piece, inner sum k, the dense bf16 copies of A and
  // B read with leading dimensions lda and ldb (transposed when ta / tb),
  // C's rows ldc apart, C += when accumulate. REQUIRES: outside a parallel
  // region.
  std::vector<Piece>& Pieces(const PieceKey& key, int count) {
    auto& pieces = pieces_[key];
    if (pieces.size() < static_cast<size_t>(count)) {
      const auto [m, n, k, ta, tb, lda, ldb, ldc, accumulate] = key;
      // The primitive is planned for one thread: it runs inside the pieces'
      // OpenMP loop, where oneDNN runs on the calling thread only, and a plan
      // for more threads would then compute only the first thread's share.
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      const memory::desc a_md({m, k}, memory::data_type::bf16,
                              ta ? memory::dims{1, lda} : memory::dims{lda, 1});
      const memory::desc b_md({k, n}, memory::data_type::bf16,
                              tb ? memory::dims{1, ldb} : memory::dims{ldb, 1});
      const memory::desc c_md({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
      dnnl::primitive_attr attr;
      if (accumulate) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
      }
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine_);
      omp_set_num_threads(threads);
      while (pieces.size() < static_cast<size_t>(count)) {
        pieces.push_back({dnnl::matmul(pd), memory(a_md, engine_, nullptr),
                          memory(b_md, engine_, nullptr), memory(c_md, engine_, nullptr)});
      }
    }
    return pieces;
  }

  // Dense bf16 scratch of at least n values (grown, never shrunk).
  uint16_t* Scratch(int which, size_t n) {
    if (scratch_[which].size() < n) scratch_[which].resize(n);
    return scratch_[which].data();
  }

 private:
  dnnl::engine engine_;
  std::map<PieceKey, std::vector<Piece>> pieces_;
  std::vector<uint16_t> scratch_[2];
};

Bf16Context& Context() {
  static Bf16Context context;
  return context;
}

}  // namespace

bool Bf16Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

void bf16gemm_pieces(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                     const float* B, int ldb, float beta, float* C, int ldc) {
  assert(Bf16Supported() && !omp_in_parallel() && (beta == 0.0f || beta == 1.0f));
  Bf16Context& ctx = Context();
  // Stored shapes: A is [K, M] when transposed, else [M, K]; B likewise.
  const int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  uint16_t* a16 = ctx.Scratch(0, static_cast<size_t>(a_rows) * a_cols);
  uint16_t* b16 = ctx.Scratch(1, static_cast<size_t>(b_rows) * b_cols);
  ToBf16(a16, A, a_rows, a_cols, lda);
  ToBf16(b16, B, b_rows, b_cols, ldb);

  const auto [by_rows, width, count] = cut_product(M, N, K);
  const int extent = by_rows ? M : N;
  const int last = extent - (count - 1) * width;
  const auto key = [&](int e) {
    return by_rows ? PieceKey{e, N, K, trans_a, trans_b, a_cols, b_cols, ldc, beta != 0.0f}
                   : PieceKey{M, e, K, trans_a, trans_b, a_cols, b_cols, ldc, beta != 0.0f};
  };
  // Full-width pieces share one primitive; a shorter last one has its own.
  std::array<Piece*, kMaxPieces> pieces;
  assert(count <= kMaxPieces);
  std::vector<Piece>& full = ctx.Pieces(key(width), last == width ? count : count - 1);
  for (int p = 0; p < count && p < static_cast<int>(full.size()); p++) pieces[p] = &full[p];
  if (last != width) pieces[count - 1] = &ctx.Pieces(key(last), 1)[0];
  for (int p = 0; p < count; p++) {
    const size_t e0 = static_cast<size_t>(p) * width;
    // The piece's rows e0.. of op(A) and C, or its columns e0.. of op(B) and C.
    const uint16_t* a = a16 + (by_rows ? (trans_a ? e0 : e0 * a_cols) : 0);
    const uint16_t* b = b16 + (by_rows ? 0 : (trans_b ? e0 * b_cols : e0));
    pieces[p]->src.set_data_handle(const_cast<uint16_t*>(a));
    pieces[p]->weights.set_data_handle(const_cast<uint16_t*>(b));
    pieces[p]->dst.set_data_handle(C + (by_rows ? e0 * ldc : e0));
  }
#pragma omp parallel for schedule(static)
  for (int p = 0; p < count; p++) {
    dnnl::stream& stream = ctx.StreamOfThisThread();
    // The C API: the C++ one builds an unordered_map of arguments per call.
    const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, pieces[p]->src.get()},
                                    {DNNL_ARG_WEIGHTS, pieces[p]->weights.get()},
                                    {DNNL_ARG_DST, pieces[p]->dst.get()}};
    dnnl_primitive_execute(pieces[p]->matmul.get(), stream.get(), 3, args);
    dnnl_stream_wait(stream.get());
  }
}

void round_to_bf16(float* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const uint32_t bits = static_cast<uint32_t>(Bf16Bits(in[i])) << 16;
    std::memcpy(out + i, &bits, 4);
  }
}

}  // namespace ratchet::train

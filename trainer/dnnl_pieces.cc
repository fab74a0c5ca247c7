// oneDNN matmul in the pieces of sgemm_pieces (dnnl_pieces.h).
#include "trainer/dnnl_pieces.h"

#include <omp.h>

#include <array>
#include <cassert>
#include <cstddef>
#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "trainer/gemm_pieces.h"

namespace ratchet::train {

namespace {

using dnnl::memory;

// One piece's matmul and its three memory objects (data handles set per call).
struct Piece {
  dnnl::matmul matmul;
  memory src, weights, dst;
};

// What fixes a piece's primitive: operand type, shape, the operands'
// layouts, beta.
using PieceKey = std::tuple<DnnlOperands, int, int, int, bool, bool, int, int, int, bool>;

// Engine, one stream per OpenMP thread and the primitives met so far. Lives
// for the process: each shape's primitives are made once.
class DnnlContext {
 public:
  DnnlContext() : engine_(dnnl::engine::kind::cpu, 0) {}

  dnnl::stream& StreamOfThisThread() {
    thread_local std::unique_ptr<dnnl::stream> stream;
    if (!stream) stream = std::make_unique<dnnl::stream>(engine_);
    return *stream;
  }

  // At least `count` pieces for key (type, m, n, k, ta, tb, lda, ldb, ldc,
  // accumulate): C's m x n piece, inner sum k, A and B read with leading
  // dimensions lda and ldb (transposed when ta / tb), C's rows ldc apart,
  // C += when accumulate. REQUIRES: outside a parallel region.
  std::vector<Piece>& Pieces(const PieceKey& key, int count) {
    auto& pieces = pieces_[key];
    if (pieces.size() < static_cast<size_t>(count)) {
      const auto [type, m, n, k, ta, tb, lda, ldb, ldc, accumulate] = key;
      const auto dt =
          type == DnnlOperands::kBf16 ? memory::data_type::bf16 : memory::data_type::f32;
      // The primitive is planned for one thread: it runs inside the pieces'
      // OpenMP loop, where oneDNN runs on the calling thread only, and a plan
      // for more threads would then compute only the first thread's share.
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      const memory::desc a_md({m, k}, dt, ta ? memory::dims{1, lda} : memory::dims{lda, 1});
      const memory::desc b_md({k, n}, dt, tb ? memory::dims{1, ldb} : memory::dims{ldb, 1});
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

 private:
  dnnl::engine engine_;
  std::map<PieceKey, std::vector<Piece>> pieces_;
};

DnnlContext& Context() {
  static DnnlContext context;
  return context;
}

}  // namespace

void dnnl_pieces(DnnlOperands operands, bool trans_a, bool trans_b, int M, int N, int K,
                 const void* A, int lda, const void* B, int ldb, float beta, float* C, int ldc) {
  assert(!omp_in_parallel() && (beta == 0.0f || beta == 1.0f));
  DnnlContext& ctx = Context();
  const size_t size = operands == DnnlOperands::kBf16 ? 2 : 4;  // bytes per operand value
  const auto* a_bytes = static_cast<const char*>(A);
  const auto* b_bytes = static_cast<const char*>(B);
  const auto [by_rows, width, count] = cut_product(M, N, K);
  const int extent = by_rows ? M : N;
  const int last = extent - (count - 1) * width;
  const auto key = [&](int e) {
    return by_rows ? PieceKey{operands, e, N, K, trans_a, trans_b, lda, ldb, ldc, beta != 0.0f}
                   : PieceKey{operands, M, e, K, trans_a, trans_b, lda, ldb, ldc, beta != 0.0f};
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
    const size_t a_at = by_rows ? (trans_a ? e0 : e0 * lda) : 0;
    const size_t b_at = by_rows ? 0 : (trans_b ? e0 * ldb : e0);
    pieces[p]->src.set_data_handle(const_cast<char*>(a_bytes + a_at * size));
    pieces[p]->weights.set_data_handle(const_cast<char*>(b_bytes + b_at * size));
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

const char* dnnl_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::sse41:
      return "sse41";
    default:
      return "other";
  }
}

bool dnnl_has_avx512() {
  const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  const auto core = static_cast<unsigned>(dnnl_cpu_isa_avx512_core);
  return (isa & core) == core;  // the ISA values are nested bit masks
}

}  // namespace ratchet::train

// A blocked FP32 matmul, C[M][N] = A[M][K] * B[K][N] (row-major), shaped by
// compile-time tunables that ratchet-kbench passes as -D values from
// tune.json:
//
//   MC, KC, NC   cache blocks: rows of A, depth, columns of B per block
//                (MC and NC are rounded up to multiples of MR and NR)
//   MR, NR       micro-tile: MR x NR accumulators kept in registers
//   VEC          vector width in floats (8: AVX2, 16: AVX-512); narrowed
//                when NR is not a multiple of it
//   UNROLL       depth steps per micro-kernel loop iteration
//   LOOP_ORDER   order of the three block loops: 0 jc-pc-ic (GotoBLAS),
//                1 ic-pc-jc, 2 pc-jc-ic
//   PACK         1: copy blocks of A and B into contiguous, zero-padded
//                panels first; 0: read them in place (edge tiles go scalar)
//
// Threads split the rows of C; each thread runs the whole blocked algorithm
// on its rows, so results do not depend on scheduling.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kbench_abi.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef MC
#define MC 64
#endif
#ifndef KC
#define KC 256
#endif
#ifndef NC
#define NC 1024
#endif
#ifndef MR
#define MR 4
#endif
#ifndef NR
#define NR 16
#endif
#ifndef VEC
#define VEC 8
#endif
#ifndef UNROLL
#define UNROLL 1
#endif
#ifndef LOOP_ORDER
#define LOOP_ORDER 0
#endif
#ifndef PACK
#define PACK 1
#endif

static_assert(MR >= 1 && KC >= 1 && MC >= 1 && NC >= 1 && UNROLL >= 1, "sizes must be positive");

namespace {

// Cache blocks rounded up to whole micro-tiles, so any MC/NC is usable.
constexpr int kMC = (MC + MR - 1) / MR * MR;
constexpr int kNC = (NC + NR - 1) / NR * NR;

// The vector width actually used: VEC, narrowed when NR is not a multiple.
constexpr int kVec = NR % VEC == 0 ? VEC : NR % 8 == 0 ? 8 : NR % 4 == 0 ? 4 : 1;
constexpr int kNV = NR / kVec;  // Vectors per micro-tile row.
typedef float Vec __attribute__((vector_size(kVec * sizeof(float))));

inline Vec Load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void AddStore(float* p, Vec v) {
  Vec c = Load(p);
  c += v;
  std::memcpy(p, &c, sizeof c);
}

// acc[MR][NR] += a * b over depth kc, where element (i, k) of the A panel is
// a[i * a_rs + k * a_cs] and element (k, j) of the B panel is b[k * b_rs + j].
// Full tile: added into C (row stride ldc).
inline void MicroKernel(int kc, const float* a, long a_rs, long a_cs, const float* b, long b_rs,
                        float* c, long ldc) {
  Vec acc[MR][kNV] = {};
  int k = 0;
  auto step = [&](int kk) {
    Vec bv[kNV];
    for (int v = 0; v < kNV; ++v) bv[v] = Load(b + kk * b_rs + v * kVec);
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i * a_rs + kk * a_cs];
      for (int v = 0; v < kNV; ++v) acc[i][v] += ai * bv[v];
    }
  };
  for (; k + UNROLL <= kc; k += UNROLL) {
    for (int u = 0; u < UNROLL; ++u) step(k + u);
  }
  for (; k < kc; ++k) step(k);
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < kNV; ++v) AddStore(c + i * ldc + v * kVec, acc[i][v]);
  }
}

// The same for a partial m x n tile, scalar (edges only).
void EdgeKernel(int m, int n, int kc, const float* a, long a_rs, long a_cs, const float* b,
                long b_rs, float* c, long ldc) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int k = 0; k < kc; ++k) sum += a[i * a_rs + k * a_cs] * b[k * b_rs + j];
      c[i * ldc + j] += sum;
    }
  }
}

// Packs A[ic.., pc..] (mc x kc) into MR-row panels, k-major, zero-padded.
void PackA(const float* A, long lda, int mc, int kc, float* out) {
  for (int ir = 0; ir < mc; ir += MR) {
    for (int k = 0; k < kc; ++k) {
      for (int i = 0; i < MR; ++i) {
        *out++ = ir + i < mc ? A[(ir + i) * lda + k] : 0.0f;
      }
    }
  }
}

// Packs B[pc.., jc..] (kc x nc) into NR-column panels, zero-padded.
void PackB(const float* B, long ldb, int kc, int nc, float* out) {
  for (int jr = 0; jr < nc; jr += NR) {
    const int n = std::min(NR, nc - jr);
    for (int k = 0; k < kc; ++k) {
      for (int j = 0; j < NR; ++j) *out++ = j < n ? B[k * ldb + jr + j] : 0.0f;
    }
  }
}

struct Matrices {
  const float* A;
  const float* B;
  float* C;
  int N, K;
};

// Rows [m0, m1) of C; a_pack and b_pack are this thread's buffers.
void MatmulRows(const Matrices& x, int m0, int m1, float* a_pack, float* b_pack) {
  const int N = x.N, K = x.K;
  // Which blocks the buffers hold: a block is packed again only when the
  // loop order moved away from it.
  long packed_a = -1, packed_b = -1;
  (void)packed_a;
  (void)packed_b;
  auto block = [&](int ic, int pc, int jc) {
    const int mc = std::min(kMC, m1 - ic), kc = std::min(KC, K - pc), nc = std::min(kNC, N - jc);
#if PACK
    const long a_id = (long)ic * K + pc, b_id = (long)pc * N + jc;
    if (a_id != packed_a) PackA(x.A + a_id, K, mc, kc, a_pack);
    if (b_id != packed_b) PackB(x.B + b_id, N, kc, nc, b_pack);
    packed_a = a_id;
    packed_b = b_id;
    for (int jr = 0; jr < nc; jr += NR) {
      const int n = std::min(NR, nc - jr);
      for (int ir = 0; ir < mc; ir += MR) {
        const int m = std::min(MR, mc - ir);
        const float* a = a_pack + (long)ir * kc;
        const float* b = b_pack + (long)jr * kc;
        float* c = x.C + (long)(ic + ir) * N + jc + jr;
        if (m == MR && n == NR) {
          MicroKernel(kc, a, 1, MR, b, NR, c, N);
        } else {
          EdgeKernel(m, n, kc, a, 1, MR, b, NR, c, N);
        }
      }
    }
#else
    (void)a_pack;
    (void)b_pack;
    for (int jr = 0; jr < nc; jr += NR) {
      const int n = std::min(NR, nc - jr);
      for (int ir = 0; ir < mc; ir += MR) {
        const int m = std::min(MR, mc - ir);
        const float* a = x.A + (long)(ic + ir) * K + pc;
        const float* b = x.B + (long)pc * N + jc + jr;
        float* c = x.C + (long)(ic + ir) * N + jc + jr;
        if (m == MR && n == NR) {
          MicroKernel(kc, a, K, 1, b, N, c, N);
        } else {
          EdgeKernel(m, n, kc, a, K, 1, b, N, c, N);
        }
      }
    }
#endif
  };
#if LOOP_ORDER == 0
  for (int jc = 0; jc < N; jc += kNC)
    for (int pc = 0; pc < K; pc += KC)
      for (int ic = m0; ic < m1; ic += kMC) block(ic, pc, jc);
#elif LOOP_ORDER == 1
  for (int ic = m0; ic < m1; ic += kMC)
    for (int pc = 0; pc < K; pc += KC)
      for (int jc = 0; jc < N; jc += kNC) block(ic, pc, jc);
#else
  for (int pc = 0; pc < K; pc += KC)
    for (int jc = 0; jc < N; jc += kNC)
      for (int ic = m0; ic < m1; ic += kMC) block(ic, pc, jc);
#endif
}

}  // namespace

extern "C" void kernel_matmul(const float* A, const float* B, float* C, int M, int N, int K,
                              int threads) {
  std::memset(C, 0, sizeof(float) * (long)M * N);
  if (M == 0 || N == 0 || K == 0) return;
  const Matrices x{A, B, C, N, K};
  // Whole MR-row slices per thread, so every thread's tiles are full tiles.
  const int slices = (M + MR - 1) / MR;
  const int workers = std::max(1, std::min(threads, slices));
  const size_t a_size = (size_t)kMC * KC, b_size = (size_t)KC * kNC;
#pragma omp parallel num_threads(workers) if (workers > 1)
  {
    int t = 0, n_t = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    n_t = omp_get_num_threads();
#endif
    const int m0 = std::min(M, (int)((long)slices * t / n_t) * MR);
    const int m1 = std::min(M, (int)((long)slices * (t + 1) / n_t) * MR);
    std::vector<float> a_pack(PACK ? a_size : 0), b_pack(PACK ? b_size : 0);
    if (m0 < m1) MatmulRows(x, m0, m1, a_pack.data(), b_pack.data());
  }
}

// Which OpenBLAS kernel this CPU should run. OpenBLAS picks its kernels by CPU
// model number, and Debian 12's 0.3.21 falls back to "Prescott" (SSE3) on
// models newer than it knows: on this project's Xeon (model 207, AVX-512)
// sgemm ran at 64 GFLOP/s instead of 274. When the detected kernel predates
// AVX2 but the CPU has it, the kernel is chosen from the CPU's features
// instead (set as OPENBLAS_CORETYPE before the library loads: ratchet-train
// and ratchet-eval in runtime_env.cc, ratchet-kbench's OpenBLAS reference).
// Header-only: ratchet-kbench uses it without linking a BLAS.
#pragma once

#include <strings.h>

namespace ratchet::train {

// The kernel a CPU should get ("SkylakeX" with AVX-512, "Haswell" with AVX2
// and FMA), or "" when OpenBLAS's own choice stands: it detected `detected`,
// which is already an AVX2 kernel or better.
inline const char* BetterBlasCore(const char* detected, bool avx512, bool avx2_fma) {
  // OpenBLAS's x86-64 kernels older than AVX2: what it falls back to.
  static const char* const kPreAvx2[] = {"Prescott",    "Core2",     "Penryn",      "Dunnington",
                                         "Nehalem",     "Atom",      "Sandybridge", "Opteron",
                                         "Barcelona",   "Bobcat",    "Bulldozer",   "Piledriver",
                                         "Steamroller", "Excavator", "Unknown"};
  bool weak = false;
  for (const char* name : kPreAvx2) weak = weak || strcasecmp(detected, name) == 0;
  if (!weak) return "";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

// BetterBlasCore for the CPU this runs on.
inline const char* BetterBlasCoreHere(const char* detected) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return BetterBlasCore(detected, avx512, avx2_fma);
}

}  // namespace ratchet::train

#include "trainer/runtime_env.h"

#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

extern "C" char* openblas_get_corename(void);

namespace ratchet::train {

const char* BetterBlasCore(const char* detected, bool avx512, bool avx2_fma) {
  // OpenBLAS's x86-64 kernels older than AVX2: what it falls back to.
  static const char* const kPreAvx2[] = {"Prescott",  "Core2",     "Penryn",     "Dunnington",
                                         "Nehalem",   "Atom",      "Sandybridge", "Opteron",
                                         "Barcelona", "Bobcat",    "Bulldozer",  "Piledriver",
                                         "Steamroller", "Excavator", "Unknown"};
  bool weak = false;
  for (const char* name : kPreAvx2) weak = weak || strcasecmp(detected, name) == 0;
  if (!weak) return "";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

void TuneRuntimeEnvironment(char** argv) {
  bool changed = false;
  if (getenv("GOMP_SPINCOUNT") == nullptr && getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("GOMP_SPINCOUNT", "1000", 1);
    changed = true;
  }
  if (getenv("OPENBLAS_CORETYPE") == nullptr) {
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char* core = BetterBlasCore(openblas_get_corename(), avx512, avx2_fma);
    if (*core != '\0') {
      setenv("OPENBLAS_CORETYPE", core, 1);
      changed = true;
    }
  }
  if (!changed) return;
  // By its real path, so the process keeps its name (not "exe") in ps and top.
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return;
  self[n] = '\0';
  execv(self, argv);
}

}  // namespace ratchet::train

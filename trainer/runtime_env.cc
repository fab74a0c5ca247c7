#include "trainer/runtime_env.h"

#include <stdlib.h>
#include <unistd.h>

#include "trainer/blas_core.h"

extern "C" char* openblas_get_corename(void);

namespace ratchet::train {

void TuneRuntimeEnvironment(char** argv) {
  bool changed = false;
  if (getenv("GOMP_SPINCOUNT") == nullptr && getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("GOMP_SPINCOUNT", "1000", 1);
    changed = true;
  }
  if (getenv("OPENBLAS_CORETYPE") == nullptr) {
    const char* core = BetterBlasCoreHere(openblas_get_corename());
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

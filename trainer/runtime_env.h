// The environment the trainer's programs (ratchet-train, ratchet-eval) need
// to run at full speed, fixed before any work starts.
#pragma once

namespace ratchet::train {

// Two settings are read only when the libraries load, so they are set here
// and the program re-executes itself once (execv only returns on failure,
// and then the program simply runs as it is). Settings the user made are
// kept. Call first thing in main().
//
// - GOMP_SPINCOUNT: libgomp lets idle team threads busy-wait ~300k spins
//   between parallel regions. On a 2-core machine shared with other work the
//   spinning threads steal the time slices of the thread that holds the work:
//   evaluation measured 30-60x slower at load 10 (bench/RESULTS.md). A short
//   spin keeps the idle-machine speed.
// - OPENBLAS_CORETYPE: a kernel fit for the CPU when OpenBLAS falls back to a
//   pre-AVX2 one (blas_core.h).
void TuneRuntimeEnvironment(char** argv);

}  // namespace ratchet::train

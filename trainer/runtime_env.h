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
// - OPENBLAS_CORETYPE: OpenBLAS picks its kernels by CPU model number, and
//   Debian 12's 0.3.21 falls back to "Prescott" (SSE3) on models newer than
//   it knows: on this project's Xeon (model 207, AVX-512) sgemm ran at
//   64 GFLOP/s instead of 274, and training 3x slower. When the detected
//   kernel predates AVX2 but the CPU has it, the kernel is chosen from the
//   CPU's features instead.
void TuneRuntimeEnvironment(char** argv);

// The OpenBLAS kernel a CPU should get from its features ("SkylakeX" with
// AVX-512, "Haswell" with AVX2 and FMA), or "" when OpenBLAS's own choice
// stands: it detected `detected`, which is already an AVX2 kernel or better.
const char* BetterBlasCore(const char* detected, bool avx512, bool avx2_fma);

}  // namespace ratchet::train

// The machine's FP32 FMA peak, measured: a kernel whose timed rate is beyond
// it is not fast but not computing (a cached or skipped result), however its
// outputs look.
#pragma once

namespace ratchet::kbench {

// GFLOP/s of `threads` threads of fused multiply-adds at the widest vectors
// this CPU has (AVX-512, AVX2+FMA, or scalar): one thread's best of a few
// short runs, times `threads` (an upper bound: cores share nothing here).
double MeasureFmaPeakGflops(int threads);

}  // namespace ratchet::kbench

// ratchet-kbench: the immutable judge of a candidate compute kernel.
//
// RunKbench compiles the candidate (kbench_compile.h), checks it in a child
// process against the double-precision reference (kbench_check.h), times it
// on the benchmark problems in another child (kbench_timing.h: every timed
// call on fresh inputs, alternately at new addresses, into a NaN-poisoned
// output, checked after it: every element finite, random rows against the
// reference), calls it once more on the bench's inputs and spot-checks that
// output here, refuses a compute-bound kernel timed beyond 1.5x the
// machine's measured FMA peak (kbench_peak.h), and for matmul times OpenBLAS
// on the same problems. The report is one JSON object:
//
//   {"type":"matmul","correct":true,"threads":1,
//    "checks":[{"stage":"sweep","shape":"M=7,N=13,K=17","inputs":"normal",
//               "max_error":1.2e-08,"tolerance":3.9e-06,"ok":true}, ...],
//    "bench":[{"shape":"M=4096,N=768,K=256","gflops":41.2,"median_seconds":0.039,
//              "spread":0.01,"samples":8,"blas_gflops":120.5}, ...],
//    "gflops":40.1,"spread":0.01,"blas_gflops":118.0,"ratio_to_blas":0.34,"seconds":6.2}
//
// The metric ("gflops" or "gbps": geometric mean over the bench problems) is
// present only when "correct" is true, so an incorrect kernel can never be
// accepted by a ratchet; a failing one carries "error": one line. So are
// "gflops_cpu" / "gbps_cpu" (and per shape, and "blas_gflops_cpu",
// "cpu_ratio_to_blas"): the same rates from the CPU time the timing child
// used per call instead of wall time. Time spent descheduled while other
// processes run is not counted, so on a busy shared machine they vary far
// less than the wall-time rates; with --threads 1 they are the kernel's
// speed, with more threads they are work per CPU-second (idle-spinning
// threads count), not wall speed. Also:
// "timed_calls_checked" (how many timed calls had their output checked),
// "fma_peak_gflops" (gflops types), "compile_seconds", "loadavg" (the
// 1-minute load: timings on a busy machine
// are slow and noisy), "quick" when set, and with the OpenBLAS timing
// "blas_core": the OpenBLAS kernel it ran (PrepareBlasCore).
//
// max_error is normalized: max over elements of |out - ref| / scale, where
// scale is what the computation sums (kbench_reference.h), so it is compared
// with a relative tolerance ("tolerance"; 100x looser for adversarial inputs)
// and null when an output is not finite. spread is the interquartile range of
// the samples over their median; the top-level spread is the largest.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace ratchet::kbench {

struct KbenchOptions {
  std::string type;               // A KernelType name.
  std::filesystem::path source;   // The candidate kernel.cpp.
  std::filesystem::path defines;  // Tunables JSON; empty: none.
  int threads = 1;                // Passed to the kernel (and to BLAS).
  bool quick = false;             // Short timing (tests, smoke runs).
  bool blas = true;               // Also time the library (matmul).
  std::string compiler = "c++";
  double compile_timeout_seconds = 120;
  double check_timeout_seconds = 60;    // The whole correctness child.
  double timing_timeout_seconds = 120;  // The whole timing child.
  double fma_peak_gflops = 0;           // 0: measured (MeasureFmaPeakGflops); tests set it.
};

// Throws ratchet::Error for what is not the candidate's fault (an unknown
// type, an unwritable temp folder). Everything the candidate causes (missing
// or malformed files, compile errors, wrong results, crashes, hangs) is a
// report with "correct": false.
nlohmann::json RunKbench(const KbenchOptions& options);

}  // namespace ratchet::kbench

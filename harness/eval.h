// ratchet-eval: a checkpoint's val_bpb on the held-out split.
//
// The metric. Let N = min(max_bytes, size of val.bin) (max_bytes 0: all of it)
// and S = val.bin[0, N). Every byte S[1..N-1] is predicted exactly once:
// S is cut into consecutive, non-overlapping windows of seq_len predicted
// bytes (the last one may be shorter); window w feeds S[w*seq_len + t] and
// scores S[w*seq_len + t + 1] for t < its length, so a byte sees between 1
// and seq_len bytes of context (never bytes from its own future).
//   val_bpb = (sum of per-byte cross-entropy in nats) / ln 2 / (N - 1).
// Windows are independent and summed in order in double, so the batch size
// (windows per forward call) and the thread count change the result only by
// float rounding inside the forward.
//
// Trust. The manifest's SHA-256 of val.bin is checked before anything is
// computed; the checkpoint is read with the trainer's loader, which refuses
// foreign, truncated and corrupt files. The fast path is the trainer's own
// forward pass; --cross-check recomputes the first windows with the naive
// harness/reference_model and fails when a byte's loss disagrees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "harness/reference_model.h"

namespace ratchet {

// Default slice: 256 KiB of val.bin. At the default tinygpt config it takes
// about 4-5 s on 2 cores (50-80 thousand bytes/s), which with the trainer's
// start-up is under 2% of a 300 s experiment (bench/RESULTS.md, "Trainer").
inline constexpr std::size_t kDefaultEvalBytes = 256 * 1024;

struct EvalOptions {
  std::filesystem::path checkpoint;           // required
  std::filesystem::path data_dir;             // required; holds manifest.json and val.bin
  std::size_t max_bytes = kDefaultEvalBytes;  // 0: the whole of val.bin
  int batch = 8;                              // windows per forward call; >= 1
  int threads = 0;                            // OpenMP/BLAS threads; 0: leave the default
  bool cross_check = false;
  int cross_check_windows = 2;          // windows recomputed by the reference
  double cross_check_tolerance = 5e-4;  // max |fast - reference| per byte, in nats
  // Test hook: applied to the reference model's weights before the cross-check
  // (so a test can prove that a disagreement is caught). Empty in production.
  std::function<void(RefTensors&)> perturb_reference;
};

// One window: inputs val[start, start + length), targets shifted by one.
struct EvalWindow {
  std::size_t start = 0;
  int length = 0;
};

// The windows covering S[1..slice_bytes-1] (see above). REQUIRES: seq_len >= 1.
std::vector<EvalWindow> EvalWindows(std::size_t slice_bytes, int seq_len);

struct CrossCheck {
  int windows = 0;
  std::size_t bytes = 0;
  double fast_bpb = 0, reference_bpb = 0;
  double max_abs_diff = 0;  // nats, over bytes
  bool ok = false;
};

// Compares per-byte losses (nats): ok iff every |fast - reference| <= tolerance.
// REQUIRES: equal sizes.
CrossCheck CompareNll(std::span<const double> fast, std::span<const double> reference,
                      double tolerance);

struct EvalResult {
  double val_bpb = 0;
  std::size_t bytes = 0;   // predicted bytes (N - 1)
  double seconds = 0;      // wall time of the whole evaluation (verify, load, forward)
  double bytes_per_s = 0;  // bytes / seconds
  double forward_seconds = 0;
  bool cross_checked = false;
  CrossCheck cross_check;  // when cross_checked
};

// Verifies the data, loads the checkpoint, scores the slice. Throws
// ratchet::Error naming the file on a manifest mismatch or a bad checkpoint,
// and "cross-check failed: ..." with both numbers when the reference disagrees.
EvalResult Evaluate(const EvalOptions& options);

}  // namespace ratchet

#include "harness/eval.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <sstream>

#include "harness/manifest.h"
#include "base/error.h"
#include "trainer/checkpoint.h"
#include "trainer/model.h"

namespace ratchet {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double BitsPerByte(double nats, std::size_t bytes) {
  return bytes == 0 ? 0.0 : nats / std::numbers::ln2 / static_cast<double>(bytes);
}

// The reference model over the checkpoint's tensors, copied out by name.
ReferenceModel MakeReference(const train::LoadedCheckpoint& checkpoint,
                             const EvalOptions& options) {
  RefTensors tensors;
  for (const train::TensorInfo& info : checkpoint.tensors) {
    RefTensor& t = tensors[info.name];
    t.shape.assign(info.shape.begin(), info.shape.end());
    t.data.assign(checkpoint.params.begin() + info.offset,
                  checkpoint.params.begin() + info.offset + info.numel);
  }
  if (options.perturb_reference) options.perturb_reference(tensors);
  return ReferenceModel(ParseRefConfig(train::ToJson(checkpoint.config)), std::move(tensors));
}

std::string FormatCrossCheckFailure(const CrossCheck& c, double tolerance) {
  std::ostringstream out;
  out.precision(8);
  out << "cross-check failed: fast val_bpb " << c.fast_bpb << " vs reference " << c.reference_bpb
      << " over the first " << c.bytes << " bytes (" << c.windows
      << " windows); max per-byte difference " << c.max_abs_diff << " nats > tolerance "
      << tolerance;
  return out.str();
}

}  // namespace

std::vector<EvalWindow> EvalWindows(std::size_t slice_bytes, int seq_len) {
  std::vector<EvalWindow> windows;
  if (slice_bytes < 2) return windows;
  const std::size_t predicted = slice_bytes - 1;
  for (std::size_t start = 0; start < predicted; start += seq_len) {
    windows.push_back({start, static_cast<int>(std::min<std::size_t>(seq_len, predicted - start))});
  }
  return windows;
}

CrossCheck CompareNll(std::span<const double> fast, std::span<const double> reference,
                      double tolerance) {
  if (fast.size() != reference.size()) throw Error("cross-check: different numbers of bytes");
  CrossCheck c;
  c.bytes = fast.size();
  double fast_sum = 0, ref_sum = 0;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    fast_sum += fast[i];
    ref_sum += reference[i];
    const double diff = std::abs(fast[i] - reference[i]);
    // NaN never passes.
    c.max_abs_diff = std::isnan(diff) ? NAN : std::max(c.max_abs_diff, diff);
  }
  c.fast_bpb = BitsPerByte(fast_sum, c.bytes);
  c.reference_bpb = BitsPerByte(ref_sum, c.bytes);
  c.ok = c.max_abs_diff <= tolerance;
  return c;
}

EvalResult Evaluate(const EvalOptions& options) {
  const Clock::time_point start = Clock::now();
  if (options.batch < 1) throw Error("--batch: must be at least 1");
  if (options.threads > 0) omp_set_num_threads(options.threads);

  // Data first: nothing is computed on a held-out file the manifest does not vouch for.
  const nlohmann::json manifest = ReadManifest(options.data_dir);
  const std::string val = ReadVerified(options.data_dir, manifest, kValFile);
  const std::size_t slice =
      options.max_bytes == 0 ? val.size() : std::min(options.max_bytes, val.size());
  if (slice < 2) {
    throw Error((options.data_dir / kValFile).string() + ": fewer than 2 bytes to evaluate");
  }

  const train::LoadedCheckpoint checkpoint = train::LoadCheckpoint(options.checkpoint.string());
  const int seq_len = checkpoint.config.seq_len;
  const std::vector<EvalWindow> windows = EvalWindows(slice, seq_len);
  const int batch = std::max(1, std::min<int>(options.batch, static_cast<int>(windows.size())));
  train::Model model(checkpoint.config, batch, seq_len, /*training=*/false);
  train::CopyParams(checkpoint, model);

  const auto* bytes = reinterpret_cast<const std::uint8_t*>(val.data());
  std::vector<float> nll(static_cast<std::size_t>(batch) * seq_len);
  std::vector<double> window_nats(windows.size());
  // First cross_check_windows windows' per-byte losses, kept for the comparison.
  const std::size_t checked_windows =
      options.cross_check ? std::min<std::size_t>(options.cross_check_windows, windows.size()) : 0;
  std::vector<double> fast_checked;

  const Clock::time_point forward_start = Clock::now();
  for (std::size_t w = 0; w < windows.size();) {
    // A group: up to `batch` consecutive full windows, or the short last one alone.
    const int T = windows[w].length;
    int B = 1;
    while (B < batch && w + B < windows.size() && windows[w + B].length == T) ++B;
    const std::uint8_t* inputs = bytes + windows[w].start;
    model.ForwardNll(inputs, inputs + 1, B, T, nll.data());
    for (int b = 0; b < B; ++b) {
      double sum = 0;
      for (int t = 0; t < T; ++t) {
        const double v = nll[static_cast<std::size_t>(b) * T + t];
        sum += v;
        if (w + b < checked_windows) fast_checked.push_back(v);
      }
      window_nats[w + b] = sum;
    }
    w += B;
  }
  double total_nats = 0;
  for (double v : window_nats) total_nats += v;

  EvalResult result;
  result.forward_seconds = SecondsSince(forward_start);
  result.bytes = slice - 1;
  result.val_bpb = BitsPerByte(total_nats, result.bytes);
  if (!std::isfinite(result.val_bpb)) {
    throw Error(options.checkpoint.string() + ": the model's loss on val.bin is not finite");
  }

  if (options.cross_check) {
    ReferenceModel reference = MakeReference(checkpoint, options);
    std::vector<double> ref_checked;
    for (std::size_t w = 0; w < checked_windows; ++w) {
      const std::span<const std::uint8_t> in(bytes + windows[w].start, windows[w].length);
      const std::span<const std::uint8_t> target(bytes + windows[w].start + 1, windows[w].length);
      for (double v : reference.Nll(in, target)) ref_checked.push_back(v);
    }
    result.cross_check = CompareNll(fast_checked, ref_checked, options.cross_check_tolerance);
    result.cross_check.windows = static_cast<int>(checked_windows);
    result.cross_checked = true;
    if (!result.cross_check.ok) {
      throw Error(FormatCrossCheckFailure(result.cross_check, options.cross_check_tolerance));
    }
  }
  result.seconds = SecondsSince(start);
  result.bytes_per_s = result.bytes / result.seconds;
  return result;
}

}  // namespace ratchet

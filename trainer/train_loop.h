// The training program as a library function (ratchet-train's main only
// parses flags): load config and train.bin, build the model, optimizer and
// schedule, run steps until the budget says stop, write the checkpoint.
//
// Output on `out`, one JSON object per line:
//   progress every log_every steps and after the last one:
//     {"step":..,"tokens":..,"loss":..,"lr":..,"tokens_per_s":..,"elapsed":..}
//   with profile: {"profile":{"matmul":share,...},"seconds":{...}}: shares of
//     the training loop's wall time per kind of op (matmul attention norm
//     activation residual embedding loss optimizer data other), summing to 1
//   last: {"summary":true,"steps":..,"tokens":..,"train_loss":..,
//     "tokens_per_s":..,"gflops":..,"peak_rss_mb":..,"seconds":..,"cpu_seconds":..}
// train_loss is the mean loss of the last (up to) 20 steps; gflops is
// TrainFlopsPerToken * tokens / seconds / 1e9. A non-finite loss throws
// ratchet::Error "loss is nan at step N" (no checkpoint is written).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "trainer/budget.h"
#include "trainer/config.h"
#include "trainer/data_loader.h"
#include "trainer/model.h"
#include "trainer/optimizer.h"

namespace ratchet::train {

struct TrainOptions {
  std::string config_path;  // train.json
  std::string data_dir;     // holds train.bin (val.bin is never opened)
  std::string out_path;     // checkpoint; empty = do not write one
  uint64_t seed = 0;
  int threads = 0;          // 0 = leave OpenMP / BLAS defaults
  Budget budget;
  int log_every = 10;
  bool profile = false;
};

struct TrainSummary {
  int64_t steps = 0;
  int64_t tokens = 0;
  double train_loss = 0;
  double tokens_per_s = 0;
  double gflops = 0;
  double peak_rss_mb = 0;
  double seconds = 0;        // training loop only
  double cpu_seconds = 0;    // process CPU time of the loop (all threads; for busy machines)
  std::vector<float> losses;  // per step (reserved up front for token budgets)
  OpTimes times;              // filled when profiling
};

// Sets the OpenMP thread count, which products use too (gemm_pieces.h).
void SetThreads(int threads);

// A train.json this program will not train: unreadable, malformed, out of
// range, or asking for what this CPU lacks ("precision": "bf16" without
// avx512_bf16). ratchet-train exits with kExitInvalidConfig for it, so a
// ratchet records the candidate as invalid rather than crashed.
class InvalidConfig : public Error {
 public:
  using Error::Error;
};
inline constexpr int kExitInvalidConfig = 3;

// The config file, checked against this CPU. Throws InvalidConfig.
Config LoadTrainableConfig(const std::string& path);

// The whole program. Throws InvalidConfig for a bad config, ratchet::Error
// for other bad inputs or a NaN loss.
TrainSummary RunTraining(const TrainOptions& options, std::ostream& out);

// The loop alone, on prepared parts (tests use it). The model must be built
// for training with batch = config.batch_size, seq = config.seq_len.
// Prints progress (and profile) lines but not the summary line.
TrainSummary TrainLoop(Model& model, Optimizer& optimizer, DataLoader& data,
                       const Budget& budget, int log_every, bool profile, std::ostream& out);

// The summary line (without a newline).
std::string SummaryJson(const TrainSummary& summary);

}  // namespace ratchet::train

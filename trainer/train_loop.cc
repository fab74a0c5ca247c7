#include "trainer/train_loop.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "trainer/checkpoint.h"
#include "trainer/gemm_bf16.h"
#include "trainer/gemm_fp32.h"
#include "trainer/schedule.h"

extern "C" char* openblas_get_corename(void);  // which kernels OpenBLAS runs

namespace ratchet::train {

namespace {

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Progress lines are formatted into a stack buffer: nothing is allocated
// inside the step loop.
void PrintProgress(std::ostream& out, int64_t step, int64_t tokens, double loss, double lr,
                   double tokens_per_s, double elapsed) {
  char line[256];
  int n = std::snprintf(line, sizeof(line),
                        "{\"step\":%lld,\"tokens\":%lld,\"loss\":%.6f,\"lr\":%.6g,"
                        "\"tokens_per_s\":%.1f,\"elapsed\":%.3f}\n",
                        static_cast<long long>(step), static_cast<long long>(tokens), loss, lr,
                        tokens_per_s, elapsed);
  out.write(line, n);
  out.flush();
}

void PrintProfile(std::ostream& out, const OpTimes& t, double total) {
  const std::array<std::pair<const char*, double>, 9> parts = {{{"matmul", t.matmul},
                                                                {"attention", t.attention},
                                                                {"norm", t.norm},
                                                                {"activation", t.activation},
                                                                {"residual", t.residual},
                                                                {"embedding", t.embedding},
                                                                {"loss", t.loss},
                                                                {"optimizer", t.optimizer},
                                                                {"data", t.data}}};
  nlohmann::json share = nlohmann::json::object(), seconds = nlohmann::json::object();
  double timed = 0;
  for (const auto& [name, s] : parts) {
    share[name] = total > 0 ? s / total : 0.0;
    seconds[name] = s;
    timed += s;
  }
  // "other": what no op timer covered (gradient zeroing, loop overhead).
  const double other = std::max(0.0, total - timed);
  share["other"] = total > 0 ? other / total : 0.0;
  seconds["other"] = other;
  seconds["total"] = total;
  out << nlohmann::json{{"profile", share}, {"seconds", seconds}}.dump() << "\n";
}

}  // namespace

void SetThreads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);  // the BLAS runs single-threaded pieces (gemm_pieces.h)
}

TrainSummary TrainLoop(Model& model, Optimizer& optimizer, DataLoader& data, const Budget& budget,
                       int log_every, bool profile, std::ostream& out) {
  const Config& c = model.config();
  const int B = c.batch_size, T = c.seq_len;
  const int64_t tokens_per_step = c.tokens_per_step();
  BudgetTracker tracker(budget, tokens_per_step);
  TrainSummary s;
  s.losses.reserve(tracker.max_steps() > 0 ? tracker.max_steps() : 4096);
  std::vector<uint8_t> inputs(static_cast<size_t>(B) * T), targets(inputs.size());
  std::array<float, 20> recent{};  // ring of the last losses for train_loss
  model.set_profile(profile ? &s.times : nullptr);

  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = ProcessCpuSeconds();
  double elapsed = 0;
  while (tracker.ShouldContinue(elapsed, s.tokens)) {
    const double multiplier = LrMultiplier(c, tracker.Progress(elapsed, s.tokens));
    model.ZeroGrads();
    double loss = 0;
    for (int micro = 0; micro < c.grad_accum; ++micro) {
      {
        const auto t0 = std::chrono::steady_clock::now();
        data.NextBatch(inputs.data(), targets.data(), B, T);
        if (profile) s.times.data += Seconds(t0);
      }
      loss += model.ForwardBackward(inputs.data(), targets.data(), B, T,
                                    1.0f / static_cast<float>(c.grad_accum));
    }
    loss /= c.grad_accum;
    ++s.steps;
    if (!std::isfinite(loss)) {
      throw Error(std::string("loss is ") + (std::isnan(loss) ? "nan" : "inf") + " at step " +
                  std::to_string(s.steps));
    }
    {
      const auto t0 = std::chrono::steady_clock::now();
      optimizer.Step(model.params(), model.grads(), multiplier);
      if (profile) s.times.optimizer += Seconds(t0);
    }
    s.tokens += tokens_per_step;
    if (s.losses.size() < s.losses.capacity()) s.losses.push_back(static_cast<float>(loss));
    recent[(s.steps - 1) % recent.size()] = static_cast<float>(loss);
    elapsed = Seconds(start);
    const bool last = !tracker.ShouldContinue(elapsed, s.tokens);
    if (log_every > 0 && (s.steps % log_every == 0 || last)) {
      PrintProgress(out, s.steps, s.tokens, loss, c.lr * multiplier, s.tokens / elapsed, elapsed);
    }
  }
  model.set_profile(nullptr);
  s.seconds = elapsed;
  s.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  const int64_t kept = std::min<int64_t>(s.steps, recent.size());
  double sum = 0;
  for (int64_t i = 0; i < kept; ++i) sum += recent[i];
  s.train_loss = kept ? sum / kept : 0.0;
  s.tokens_per_s = elapsed > 0 ? s.tokens / elapsed : 0.0;
  s.gflops = elapsed > 0 ? TrainFlopsPerToken(c) * s.tokens / elapsed / 1e9 : 0.0;
  s.peak_rss_mb = PeakRssMb();
  if (profile) PrintProfile(out, s.times, elapsed);
  return s;
}

std::string SummaryJson(const TrainSummary& s) {
  return nlohmann::json{{"summary", true},         {"steps", s.steps},
                        {"blas_core", openblas_get_corename()},
                        {"fp32_gemm", Fp32GemmName(Fp32GemmHere())},
                        {"tokens", s.tokens},      {"train_loss", s.train_loss},
                        {"tokens_per_s", s.tokens_per_s}, {"gflops", s.gflops},
                        {"peak_rss_mb", s.peak_rss_mb},   {"seconds", s.seconds},
                        {"cpu_seconds", s.cpu_seconds}}
      .dump();
}

Config LoadTrainableConfig(const std::string& path) {
  Config config;
  try {
    config = LoadConfigFile(path);
  } catch (const Error& e) {
    throw InvalidConfig(e.what());
  }
  if (config.precision == Precision::kBf16 && !Bf16Supported()) {
    throw InvalidConfig(path + ": precision: bf16 needs a CPU with " + kBf16Feature +
                        ", which this one lacks");
  }
  return config;
}

TrainSummary RunTraining(const TrainOptions& o, std::ostream& out) {
  SetThreads(o.threads);
  const Config config = LoadTrainableConfig(o.config_path);
  DataLoader data(o.data_dir + "/train.bin", config.seq_len, o.seed);
  Model model(config, config.batch_size, config.seq_len, /*training=*/true);
  model.InitParams(o.seed);
  Optimizer optimizer(config, model.tensors());
  TrainSummary s = TrainLoop(model, optimizer, data, o.budget, o.log_every, o.profile, out);
  if (!o.out_path.empty()) {
    nlohmann::json meta = {{"step", s.steps},
                           {"tokens", s.tokens},
                           {"seed", o.seed},
                           {"train_loss", s.train_loss},
                           {"seconds", s.seconds},
                           {"tokens_per_s", s.tokens_per_s},
                           {"threads", o.threads}};
    SaveCheckpoint(o.out_path, model, meta);
  }
  out << SummaryJson(s) << "\n";
  out.flush();
  return s;
}

}  // namespace ratchet::train

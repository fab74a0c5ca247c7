// ratchet-train: trains the tinygpt model under a time or token budget.
// Flags are parsed here; everything else is RunTraining (train_loop.h).
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "trainer/runtime_env.h"
#include "trainer/train_loop.h"

int main(int argc, char** argv) {
  ratchet::train::TuneRuntimeEnvironment(argv);
  using ratchet::train::Budget;
  ratchet::train::TrainOptions o;
  double time_budget = 0;
  int64_t token_budget = 0;
  CLI::App app{"ratchet-train: train a byte-level GPT on CPU under a time or token budget"};
  app.add_option("--config", o.config_path, "train.json")->required();
  app.add_option("--data", o.data_dir, "folder holding train.bin (from ratchet-prepare)")
      ->required();
  app.add_option("--out", o.out_path, "checkpoint to write")->required();
  app.add_option("--seed", o.seed, "seed of initialization and batch sampling")->required();
  app.add_option("--threads", o.threads, "OpenMP/BLAS threads (0 = default)");
  auto* time_opt = app.add_option("--time-budget", time_budget, "seconds of training loop");
  auto* token_opt = app.add_option("--token-budget", token_budget, "training tokens");
  time_opt->excludes(token_opt);
  app.add_option("--log-every", o.log_every, "steps between progress lines (0 = none)");
  app.add_flag("--profile", o.profile, "print the share of step time per op");
  CLI11_PARSE(app, argc, argv);
  if (time_opt->count() == 0 && token_opt->count() == 0) {
    std::fprintf(stderr, "ratchet-train: give --time-budget SEC or --token-budget N\n");
    return 2;
  }
  if (time_opt->count()) {
    o.budget = {Budget::Kind::kTime, time_budget, 0};
  } else {
    o.budget = {Budget::Kind::kTokens, 0, token_budget};
  }
  try {
    ratchet::train::RunTraining(o, std::cout);
  } catch (const ratchet::train::InvalidConfig& e) {
    std::fprintf(stderr, "ratchet-train: %s\n", e.what());
    return ratchet::train::kExitInvalidConfig;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ratchet-train: %s\n", e.what());
    return 1;
  }
  return 0;
}

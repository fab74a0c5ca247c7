// ratchet-eval --checkpoint CKPT --data DIR [--max-bytes N] [--batch B] [--threads N]
//              [--cross-check]
// Prints one JSON line {"val_bpb", "bytes", "seconds", "bytes_per_s", ...}.
// Exit 0 on success; 1 with a one-line message on stderr for any error (bad
// manifest, corrupt checkpoint, failed cross-check).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "harness/eval.h"
#include "base/error.h"
#include "trainer/runtime_env.h"

int main(int argc, char** argv) {
  ratchet::train::TuneRuntimeEnvironment(argv);
  ratchet::EvalOptions options;
  CLI::App app{"Score a ratchet-train checkpoint in bits per byte on DIR/val.bin"};
  app.add_option("--checkpoint", options.checkpoint, "checkpoint written by ratchet-train")
      ->required();
  app.add_option("--data", options.data_dir, "folder written by ratchet-prepare")->required();
  app.add_option("--max-bytes", options.max_bytes, "score the first N bytes of val.bin (0: all)")
      ->capture_default_str();
  app.add_option("--batch", options.batch, "windows per forward call (does not change the result)")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP/BLAS threads (0: default)")
      ->capture_default_str();
  app.add_flag("--cross-check", options.cross_check,
               "recompute the first windows with the naive reference model and compare");
  CLI11_PARSE(app, argc, argv);

  try {
    const ratchet::EvalResult r = ratchet::Evaluate(options);
    nlohmann::json line = {{"val_bpb", r.val_bpb},
                           {"bytes", r.bytes},
                           {"seconds", r.seconds},
                           {"bytes_per_s", r.bytes_per_s}};
    if (r.cross_checked) {
      line["cross_check"] = {{"windows", r.cross_check.windows},
                             {"bytes", r.cross_check.bytes},
                             {"fast_bpb", r.cross_check.fast_bpb},
                             {"reference_bpb", r.cross_check.reference_bpb},
                             {"max_abs_diff_nats", r.cross_check.max_abs_diff}};
    }
    std::cout << line.dump() << std::endl;
    return 0;
  } catch (const ratchet::Error& e) {
    std::fprintf(stderr, "ratchet-eval: %s\n", e.what());
    return 1;
  }
}

// ratchet-kbench --type TYPE --source kernel.cpp [--defines tune.json]
//                [--threads N] [--quick]
// Prints one JSON line (see harness/kbench.h). Exit 0: the candidate is
// correct and was timed; 1: the candidate failed (the line says why);
// 2: the bench itself could not run.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "harness/kbench.h"
#include "base/error.h"

int main(int argc, char** argv) {
  ratchet::kbench::KbenchOptions options;
  CLI::App app{"ratchet-kbench: compile, check and time a candidate compute kernel"};
  app.add_option("--type", options.type, "matmul, softmax, rmsnorm, layernorm, attention or rope")
      ->required();
  app.add_option("--source", options.source, "the candidate kernel.cpp")->required();
  app.add_option("--defines", options.defines, "JSON object of tunables, passed as -DNAME=VALUE");
  app.add_option("--threads", options.threads, "threads the kernel (and BLAS) may use")
      ->check(CLI::Range(1, 1024));
  app.add_flag("--quick", options.quick, "short timing, for tests");
  app.add_flag("!--no-blas", options.blas, "skip the library comparison");
  app.add_option("--cxx", options.compiler, "the C++ compiler");
  app.add_option("--check-timeout", options.check_timeout_seconds,
                 "deadline of the correctness child, seconds");
  app.add_option("--timeout", options.timing_timeout_seconds,
                 "deadline of the timing child, seconds");
  CLI11_PARSE(app, argc, argv);
  try {
    const nlohmann::json report = ratchet::kbench::RunKbench(options);
    std::cout << report.dump() << std::endl;
    return report.value("correct", false) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}

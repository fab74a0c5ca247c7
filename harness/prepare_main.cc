// ratchet-prepare --out DIR [--input FILE ...] [--val-fraction F] [--chunk-bytes N] [--seed S]
// Prints one JSON line describing the result; errors are one line on stderr, exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "harness/prepare.h"
#include "base/error.h"

int main(int argc, char** argv) {
  ratchet::PrepareOptions options;
  std::vector<std::string> inputs;
  CLI::App app{
      "Split a text corpus into train.bin / val.bin with a manifest (default corpus: "
      "the King James Bible from Debian's bible-kjv)"};
  app.add_option("--out", options.out_dir, "output directory")->required();
  app.add_option("--input", inputs, "text files, concatenated in order (default: KJV Bible)");
  app.add_option("--val-fraction", options.val_fraction, "expected share of chunks held out")
      ->capture_default_str();
  app.add_option("--chunk-bytes", options.chunk_bytes, "split granularity in bytes")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "salt of the chunk hash")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  for (const auto& input : inputs) options.inputs.emplace_back(input);

  try {
    const ratchet::PrepareResult result = ratchet::Prepare(options);
    const auto& files = result.manifest["files"];
    nlohmann::json line = {{"out", options.out_dir.string()},
                           {"up_to_date", result.up_to_date},
                           {"train_bytes", files["train.bin"]["bytes"]},
                           {"val_bytes", files["val.bin"]["bytes"]},
                           {"val_chunks", result.manifest["split"]["val_chunks"]},
                           {"chunks", result.manifest["split"]["chunks"]}};
    std::cout << line.dump() << std::endl;
    return 0;
  } catch (const ratchet::Error& e) {
    std::fprintf(stderr, "ratchet-prepare: %s\n", e.what());
    return 1;
  }
}

// Shared helpers of the trainer tests: tiny configs, temp dirs, data files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "trainer/config.h"
#include "trainer/train_loop.h"

namespace ratchet::train::testing {

// Tiny models gain nothing from threads, and on a busy 2-core machine every
// OpenMP barrier can wait a whole time slice: tests run on one thread unless
// they ask for more (SetThreads).
inline const bool kOneThreadByDefault = (SetThreads(1), true);

// A model small enough that a step takes well under a millisecond.
inline Config TinyConfig(nlohmann::json overrides = nlohmann::json::object()) {
  nlohmann::json j = {{"n_layer", 2}, {"n_embd", 16}, {"n_head", 2},   {"seq_len", 8},
                      {"batch_size", 2}, {"mlp_ratio", 2}, {"init_std", 0.1}};
  j.update(overrides);
  return ParseConfig(j, "tiny.json");
}

// A fresh directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ratchet-trainer-XXXXXX");
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A train.bin of repetitive English so a tiny model learns quickly.
inline std::string SampleText(size_t bytes = 20000) {
  const std::string verse =
      "In the beginning God created the heaven and the earth. And the earth was without form. ";
  std::string out;
  while (out.size() < bytes) out += verse;
  out.resize(bytes);
  return out;
}

}  // namespace ratchet::train::testing

// Training batches: random contiguous windows of DIR/train.bin (raw bytes).
// Only train.bin is ever opened; val.bin belongs to the evaluator.
// Window starts come from a seeded 64-bit generator (std::mt19937_64, with our
// own reduction to a range, so the sequence is the same on every platform).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ratchet::train {

class DataLoader {
 public:
  // Reads path fully. Throws ratchet::Error naming the file if it cannot be
  // read or holds fewer than seq_len + 1 bytes.
  DataLoader(const std::string& path, int seq_len, uint64_t seed);

  // inputs[b*T + t] = data[s_b + t], targets[b*T + t] = data[s_b + t + 1] for
  // random starts s_b. REQUIRES: T <= seq_len. Allocates nothing.
  void NextBatch(uint8_t* inputs, uint8_t* targets, int B, int T);

  size_t size() const { return data_.size(); }

 private:
  std::vector<uint8_t> data_;
  int seq_len_;
  std::mt19937_64 rng_;
};

}  // namespace ratchet::train

#include "trainer/data_loader.h"

#include <cassert>
#include <cstring>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet::train {

DataLoader::DataLoader(const std::string& path, int seq_len, uint64_t seed)
    : seq_len_(seq_len), rng_(seed) {
  std::string bytes = ReadFile(path);
  if (bytes.size() < static_cast<size_t>(seq_len) + 1) {
    throw Error(path + ": holds " + std::to_string(bytes.size()) +
                " bytes, fewer than seq_len + 1 = " + std::to_string(seq_len + 1));
  }
  data_.assign(bytes.begin(), bytes.end());
}

void DataLoader::NextBatch(uint8_t* inputs, uint8_t* targets, int B, int T) {
  assert(T <= seq_len_);
  const uint64_t range = data_.size() - static_cast<uint64_t>(T);  // starts 0..size-T-1
  for (int b = 0; b < B; ++b) {
    uint64_t start = rng_() % range;  // modulo bias < range / 2^64: negligible
    std::memcpy(inputs + static_cast<size_t>(b) * T, data_.data() + start, T);
    std::memcpy(targets + static_cast<size_t>(b) * T, data_.data() + start + 1, T);
  }
}

}  // namespace ratchet::train

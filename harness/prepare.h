// ratchet-prepare: a text corpus becomes a deterministic train/validation split.
//
// The corpus (the given files concatenated in order, or by default the King
// James Bible printed by Debian's `bible` program) is cut into fixed-size
// chunks; a chunk goes to validation when a seeded hash of its bytes falls
// below val_fraction. The rule depends on content, not position, so the
// held-out text is spread over the whole corpus, and identical chunks always
// land on the same side. Output: DIR/train.bin, DIR/val.bin (raw bytes, the
// chunks in corpus order) and DIR/manifest.json (see manifest.h), each written
// atomically, the manifest last. Re-running with the same input and options
// gives identical bytes and, when the manifest already matches, writes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ratchet {

struct PrepareOptions {
  std::filesystem::path out_dir;              // required
  std::vector<std::filesystem::path> inputs;  // empty: the default corpus (KJV)
  double val_fraction = 0.1;                  // expected share of chunks in val; (0, 1)
  std::size_t chunk_bytes = 4096;             // split granularity; the last chunk may be short
  std::uint64_t seed = 1;                     // salts the chunk hash
};

// The text to split plus a JSON description of where it came from.
struct Corpus {
  std::string text;
  nlohmann::json source;  // {"description", "bytes", "sha256", ["files"]}
};

// The given files concatenated in order. Throws ratchet::Error naming the
// first file that is missing or unreadable.
Corpus ReadCorpusFiles(const std::vector<std::filesystem::path>& inputs);

// The King James Bible, by running `bible -f -l 0 Gen1:1-Rev22:21` (fork/exec,
// no shell). Throws ratchet::Error telling which Debian packages to install
// when the program is missing, or naming the command when it fails.
Corpus ReadDefaultCorpus();

// Output of `program args...` (stdin /dev/null, stderr inherited). Throws
// ratchet::Error naming the command if it cannot start or exits non-zero.
std::string RunAndCapture(const std::vector<std::string>& argv);

// True when the chunk belongs to validation: the first 8 bytes of
// SHA-256(seed as 8 little-endian bytes || chunk), read big-endian, are below
// val_fraction * 2^64.
bool IsValChunk(std::string_view chunk, std::uint64_t seed, double val_fraction);

struct Split {
  std::string train;
  std::string val;
  std::size_t chunks = 0;
  std::size_t val_chunks = 0;
};

// Splits text by IsValChunk over chunks of options.chunk_bytes. Throws
// ratchet::Error when the text is empty or either side gets no chunk.
Split SplitCorpus(std::string_view text, const PrepareOptions& options);

// The manifest JSON for a split (deterministic: no time stamps).
nlohmann::json MakeManifest(const Corpus& corpus, const Split& split,
                            const PrepareOptions& options);

struct PrepareResult {
  bool up_to_date = false;  // true: the existing files already matched; nothing written
  nlohmann::json manifest;
};

// Reads the corpus, splits it and writes the three files (unless up to date).
// Throws ratchet::Error on bad options, missing input, empty corpus, no val chunk.
PrepareResult Prepare(const PrepareOptions& options);

}  // namespace ratchet

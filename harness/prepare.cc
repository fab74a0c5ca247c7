#include "harness/prepare.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "harness/manifest.h"
#include "base/error.h"
#include "base/fs.h"

extern char** environ;

namespace ratchet {
namespace {

constexpr const char* kBibleProgram = "bible";
const std::vector<std::string> kBibleArgv = {kBibleProgram, "-f", "-l", "0", "Gen1:1-Rev22:21"};

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string joined;
  for (const auto& a : argv) joined += (joined.empty() ? "" : " ") + a;
  return joined;
}

// Closes a file descriptor once, whatever path leaves the scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace

std::string RunAndCapture(const std::vector<std::string>& argv) {
  const std::string command = JoinArgv(argv);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(command + ": pipe: " + std::strerror(errno));
  Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    if (rc == ENOENT && argv[0] == kBibleProgram) {
      throw Error(command +
                  ": program not found; install the Debian packages bible-kjv and "
                  "bible-kjv-text (scripts/install-deps), or pass --input FILE");
    }
    throw Error(command + ": cannot start: " + std::strerror(rc));
  }
  write_end.Close();

  std::string output;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(command + ": waitpid: " + std::strerror(errno));
  }
  if (WIFSIGNALED(status)) {
    throw Error(command + ": killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) {
    throw Error(command + ": exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  return output;
}

Corpus ReadCorpusFiles(const std::vector<std::filesystem::path>& inputs) {
  Corpus corpus;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& input : inputs) {
    if (!std::filesystem::exists(input)) throw Error(input.string() + ": input file not found");
    if (std::filesystem::is_directory(input)) {
      throw Error(input.string() + ": input is a directory, not a file");
    }
    const std::string bytes = ReadFile(input);
    files.push_back(
        {{"path", input.string()}, {"bytes", bytes.size()}, {"sha256", Sha256Hex(bytes)}});
    corpus.text += bytes;
  }
  corpus.source = {{"description", "files concatenated in order"},
                   {"files", files},
                   {"bytes", corpus.text.size()},
                   {"sha256", Sha256Hex(corpus.text)}};
  return corpus;
}

Corpus ReadDefaultCorpus() {
  Corpus corpus;
  corpus.text = RunAndCapture(kBibleArgv);
  corpus.source = {{"description", "King James Bible (Debian bible-kjv, bible-kjv-text)"},
                   {"command", kBibleArgv},
                   {"bytes", corpus.text.size()},
                   {"sha256", Sha256Hex(corpus.text)}};
  return corpus;
}

bool IsValChunk(std::string_view chunk, std::uint64_t seed, double val_fraction) {
  std::string salted(8, '\0');
  for (int i = 0; i < 8; ++i) salted[i] = static_cast<char>((seed >> (8 * i)) & 0xff);
  salted.append(chunk);
  const auto digest = Sha256(salted);
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | digest[i];
  // value / 2^64 < val_fraction, computed exactly enough in long double.
  const long double threshold = std::ldexp(static_cast<long double>(val_fraction), 64);
  return static_cast<long double>(value) < threshold;
}

Split SplitCorpus(std::string_view text, const PrepareOptions& options) {
  if (text.empty()) throw Error("corpus is empty: nothing to split");
  Split split;
  for (std::size_t start = 0; start < text.size(); start += options.chunk_bytes) {
    const std::string_view chunk = text.substr(start, options.chunk_bytes);
    ++split.chunks;
    if (IsValChunk(chunk, options.seed, options.val_fraction)) {
      ++split.val_chunks;
      split.val.append(chunk);
    } else {
      split.train.append(chunk);
    }
  }
  const std::string counts = std::to_string(split.chunks) + " chunks of " +
                             std::to_string(options.chunk_bytes) + " bytes, val_fraction " +
                             std::to_string(options.val_fraction) + ", seed " +
                             std::to_string(options.seed);
  if (split.val_chunks == 0) {
    throw Error("no chunk fell into validation (" + counts +
                "): give more text, a smaller --chunk-bytes or a larger --val-fraction");
  }
  if (split.val_chunks == split.chunks) {
    throw Error("no chunk fell into training (" + counts +
                "): give more text, a smaller --chunk-bytes or a smaller --val-fraction");
  }
  return split;
}

nlohmann::json MakeManifest(const Corpus& corpus, const Split& split,
                            const PrepareOptions& options) {
  return {
      {"format", "ratchet-data"},
      {"version", kManifestVersion},
      {"source", corpus.source},
      {"split",
       {{"rule",
         "chunks of chunk_bytes in corpus order; a chunk is validation iff the first 8 bytes "
         "of SHA-256(seed as uint64 little-endian || chunk), big-endian, are < val_fraction * "
         "2^64; each side keeps its chunks in corpus order"},
        {"chunk_bytes", options.chunk_bytes},
        {"val_fraction", options.val_fraction},
        {"seed", options.seed},
        {"chunks", split.chunks},
        {"val_chunks", split.val_chunks}}},
      {"files",
       {{kTrainFile, {{"bytes", split.train.size()}, {"sha256", Sha256Hex(split.train)}}},
        {kValFile, {{"bytes", split.val.size()}, {"sha256", Sha256Hex(split.val)}}}}},
  };
}

namespace {

void CheckOptions(const PrepareOptions& options) {
  if (options.out_dir.empty()) throw Error("--out: an output directory is required");
  if (!(options.val_fraction > 0.0 && options.val_fraction < 1.0)) {
    throw Error("--val-fraction: must be in (0, 1), got " + std::to_string(options.val_fraction));
  }
  if (options.chunk_bytes == 0) throw Error("--chunk-bytes: must be at least 1");
}

// True when DIR already holds exactly `manifest` and files matching it.
bool AlreadyPrepared(const std::filesystem::path& dir, const nlohmann::json& manifest) {
  try {
    if (ReadManifest(dir) != manifest) return false;
    ReadVerified(dir, manifest, kTrainFile);
    ReadVerified(dir, manifest, kValFile);
    return true;
  } catch (const Error&) {
    return false;  // missing or stale: rewrite
  }
}

}  // namespace

PrepareResult Prepare(const PrepareOptions& options) {
  CheckOptions(options);
  const Corpus corpus =
      options.inputs.empty() ? ReadDefaultCorpus() : ReadCorpusFiles(options.inputs);
  const Split split = SplitCorpus(corpus.text, options);
  PrepareResult result;
  result.manifest = MakeManifest(corpus, split, options);
  if (AlreadyPrepared(options.out_dir, result.manifest)) {
    result.up_to_date = true;
    return result;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) throw Error(options.out_dir.string() + ": cannot create directory: " + ec.message());
  // The manifest goes last: a reader that sees it also sees the files it names.
  WriteFileAtomic(options.out_dir / kTrainFile, split.train);
  WriteFileAtomic(options.out_dir / kValFile, split.val);
  WriteFileAtomic(options.out_dir / kManifestFile, result.manifest.dump(2) + "\n");
  return result;
}

}  // namespace ratchet

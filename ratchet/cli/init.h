// `ratchet init DIR`: a starting spec for a repository in the autoresearch
// layout (prepare.py: data, maybe the evaluation, not to be touched;
// train.py: what the agent rewrites; program.md: the agent's instructions;
// maybe results.tsv, pyproject.toml, evaluate.py).
//
// The spec makes train.py the only mutable file, pins prepare.py (and
// evaluate.py when there is one) by hash, scores val_bpb (minimize), and has
// a `command` proposer whose agent CLI the user must name. It passes to
// train.py the controller's flags that train.py's source mentions (--seed,
// --threads, --time-budget, --data, --out). Two kinds of repository:
//   - with evaluate.py (experiments/nanogpt-torch): train.py writes a
//     checkpoint to --out, the pinned evaluate.py scores it on the held-out
//     files that prepare.py --out DIR writes (a `data` section);
//   - without (karpathy/autoresearch): train.py evaluates itself and prints
//     `val_bpb: X`; the evaluate command reads that line back from the train
//     log, and the notes say plainly that a mutation can then print anything.
// Everything guessed and everything the user must check is printed.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace ratchet {

struct InitOptions {
  std::filesystem::path dir;     // the repository; required
  std::filesystem::path output;  // the spec to write; empty: DIR/ratchet.json
  // Names the layout explicitly; it is the only one init knows today, so
  // `init DIR` and `init --from-autoresearch DIR` do the same.
  bool from_autoresearch = false;
  bool force = false;  // overwrite an existing output
};

struct LayoutGuess {
  nlohmann::ordered_json spec;       // keys in the order of docs/spec.md
  std::vector<std::string> guessed;  // what was inferred, one line each
  std::vector<std::string> check;    // what the user must check or fill in
};

// Reads DIR (REQUIRES: nothing; every problem is an Error). `spec_dir` is
// the folder the spec will live in (its relative paths start there).
// Throws Error "<dir>: not an autoresearch layout: missing prepare.py,
// program.md (needs prepare.py, train.py and program.md)" on another layout,
// "<dir>: no such directory" when it is not one.
LayoutGuess InspectAutoresearch(const std::filesystem::path& dir,
                                const std::filesystem::path& spec_dir);

// Inspects, checks the spec loads, writes it (atomically; refuses to replace
// an existing file without force) and prints the guesses and the checks.
void CommandInit(const InitOptions& options, std::ostream& out);

}  // namespace ratchet

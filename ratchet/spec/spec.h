// The spec: one JSON file (specs/*.json, format in docs/spec.md) saying what a
// ratchet may change, how a candidate is trained and scored, and when a change
// counts as better. LoadSpec/ParseSpec validate everything that can be checked
// before a run starts: unknown keys, wrong types, missing keys, ranges, enum
// values, placeholders, the template folder. Every error is one line naming
// the file and the key path, e.g.
//   specs/x.json: acceptance.calibration: expected an integer, got "three"
//   specs/x.json:12:5: syntax error: unexpected '}'; expected string literal
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ratchet/spec/search_space.h"

namespace ratchet {

struct Budget {
  enum class Kind { kTime, kTokens } kind = Kind::kTime;
  double seconds = 0;              // kTime: seconds of training loop, > 0
  int64_t tokens = 0;              // kTokens: training tokens, > 0
  double Amount() const;           // seconds or tokens: the value of {budget}
  std::string KindName() const;    // "time" or "tokens": the value of {budget_kind}
  std::string AmountText() const;  // {budget} as text: "300", "0.5", "1000000000"
};

// A command: argv with unsubstituted placeholders (validated at load).
struct CommandSpec {
  std::vector<std::string> argv;  // never empty
  double timeout_factor = 2.0;    // train: deadline = budget seconds × factor + grace
  double grace_seconds = 30;
  double timeout_seconds = 0;  // > 0: fixed deadline (evaluate: default 600)
  // train: an exit status (1..255) meaning "this candidate's config cannot be
  // trained" (ratchet-train: 3, e.g. bf16 on a CPU without it): the
  // experiment is recorded invalid, not crashed. 0 = none.
  int invalid_exit_code = 0;
};

struct MetricSpec {
  std::string name;
  enum class Goal { kMinimize, kMaximize } goal = Goal::kMinimize;
  // kJson: last stdout line that is a JSON object holding `name`;
  // kKeyValue: last `name: value` or `name=value` line.
  enum class Format { kJson, kKeyValue } format = Format::kJson;
  // True if a is strictly better than b (false when either is NaN).
  bool Better(double a, double b) const;
};

struct AcceptanceSpec {
  enum class Policy { kStrict, kThreshold, kConfirm } policy = Policy::kConfirm;
  int calibration = 3;   // baseline repeats at run start (>= 2 for kConfirm)
  int repeats = 2;       // fresh-seed re-measurements of a candidate that looks better
  double min_delta = 0;  // >= 0
  std::optional<double> max_improvement;  // > 0 when set
  double alpha = 0.01;   // kConfirm: one-sided false-accept rate of the t-test, in (0, 0.5)
  double extend_above = 0.5;  // kConfirm: second round above this fraction of t_crit, in [0, 1)
};

struct ProposerSpec {
  std::string kind = "local";
  std::string config;  // workspace-relative JSON file (search proposers)
  uint64_t seed = 1;
  int plateau = 10;        // experiments without an accepted change that count as a plateau
  nlohmann::json options;  // the whole proposer object, so each kind reads its own keys
};

struct DataSpec {
  std::string dir;                          // unsubstituted (may use {cache_dir})
  std::vector<std::string> train, heldout;  // file names relative to dir
  std::vector<std::string> prepare;         // argv run when a file is missing; may be empty
};

struct Limits {
  int threads = 1;               // {threads}; default: number of cores
  uint64_t memory_mb = 0;        // address-space limit per child; 0: none
  uint64_t log_bytes = 4 << 20;  // cap per log file (head and tail kept)
  int64_t max_experiments = 0;   // 0: no limit from the spec
  int64_t processes = 1024;      // processes and threads per child at once (pids cgroup); 0: none
};

// Children run under bubblewrap (sandbox.h) unless disabled here or with
// `ratchet run --no-sandbox`.
struct SandboxSpec {
  bool enabled = true;
  bool agent_network = true;                // the agent command may reach hosted LLM APIs
  std::vector<std::string> extra_ro;        // more folders the children may read (substituted)
};

// Where measurements run: local children (default) or Slurm jobs, one per
// train and one per evaluate (docs/cluster.md).
struct BackendSpec {
  enum class Kind { kLocal, kSlurm } kind = Kind::kLocal;
  std::string slurm_partition;                // "": the cluster's default partition
  std::vector<std::string> slurm_extra_args;  // passed to sbatch as they are
  // How a job is started: sbatch (a batch job, followed with scontrol) or
  // srun (allocated at once, ~1 s sooner per job; ends with the controller).
  enum class Submit { kSbatch, kSrun } slurm_submit = Submit::kSbatch;
};

struct Spec {
  std::filesystem::path path;  // absolute path of the spec file
  std::filesystem::path dir;   // its folder ({spec_dir}); relative paths start here
  std::string text;            // the raw file, recorded with the run
  std::string name, description;
  std::filesystem::path template_dir;  // absolute, exists
  std::vector<std::string> mutable_globs;
  std::vector<std::string> immutable;  // unsubstituted
  Budget budget;
  std::optional<DataSpec> data;
  CommandSpec train, evaluate;
  MetricSpec metric;
  AcceptanceSpec acceptance;
  ProposerSpec proposer;
  SearchSpace search_space;
  Limits limits;
  SandboxSpec sandbox;
  int parallel = 1;  // candidates in flight at once (`ratchet run --parallel`)
  BackendSpec backend;
};

// "local" or "slurm"; ParseBackendKind throws Error naming `what` otherwise.
std::string BackendKindName(BackendSpec::Kind kind);
BackendSpec::Kind ParseBackendKind(const std::string& name, const std::string& what);

// Reads and validates the spec at `path`. Throws Error (see above).
Spec LoadSpec(const std::filesystem::path& path);

// Reads the spec at `path` with its budget amount replaced by `amount`
// (seconds or tokens, by the spec's budget kind): `ratchet run --budget`.
// The returned spec's text carries the new amount, so the run records it.
Spec LoadSpecWithBudget(const std::filesystem::path& path, double amount);

// Validates `text` as if read from `origin`: `origin` names the file in
// errors and its folder anchors relative paths (the template must exist).
Spec ParseSpec(std::string_view text, const std::filesystem::path& origin);

// Hard deadline of one train command: train.timeout_seconds when set,
// otherwise budget seconds × timeout_factor + grace_seconds. (A token budget
// requires train.timeout_seconds, so this is always > 0.)
double TrainDeadlineSeconds(const Spec& spec);

// Proposer kinds the spec accepts, and which of them are search proposers
// (they need proposer.config and a non-empty search space).
bool IsKnownProposerKind(const std::string& kind);
bool IsSearchProposerKind(const std::string& kind);

}  // namespace ratchet

#include "ratchet/cli/init.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <regex>
#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/spec/spec.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Debian's interpreter, where python3-torch lives; a `python3` found on PATH
// may be a pyenv or venv under /root or /home, which the sandbox hides.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kRequired[] = {"prepare.py", "train.py", "program.md"};
constexpr double kAutoresearchBudgetSeconds = 300;  // its prepare.py's TIME_BUDGET

std::string ReadIfPresent(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) ? ReadFile(path) : "";
}

bool Mentions(const std::string& source, const std::string& word) {
  return source.find(word) != std::string::npos;
}

// The spec's name: DIR's name with anything but letters, digits, . _ - replaced.
std::string NameOf(const fs::path& dir) {
  std::string name = fs::weakly_canonical(dir).filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
  }
  return name.empty() || name == "." || name == ".." ? "experiment" : name;
}

// "{spec_dir}/<dir relative to spec_dir>/file", or "{spec_dir}/file".
std::string PinnedPath(const fs::path& dir, const fs::path& spec_dir, const std::string& file) {
  const fs::path relative =
      fs::weakly_canonical(dir).lexically_relative(fs::weakly_canonical(spec_dir));
  const std::string prefix = relative.empty() || relative == "." ? "" : relative.string() + "/";
  return "{spec_dir}/" + prefix + file;
}

std::string TemplatePath(const fs::path& dir, const fs::path& spec_dir) {
  const fs::path relative =
      fs::weakly_canonical(dir).lexically_relative(fs::weakly_canonical(spec_dir));
  return relative.empty() ? fs::weakly_canonical(dir).string() : relative.string();
}

std::optional<double> TimeBudgetIn(const std::string& source) {
  static const std::regex kTimeBudget(R"(TIME_BUDGET\s*=\s*([0-9]+(\.[0-9]*)?))");
  std::smatch match;
  if (std::regex_search(source, match, kTimeBudget)) return std::stod(match[1]);
  return std::nullopt;
}

std::string Join(const std::vector<std::string>& words) {
  std::string joined;
  for (const std::string& w : words) joined += (joined.empty() ? "" : " ") + w;
  return joined;
}

}  // namespace

LayoutGuess InspectAutoresearch(const fs::path& dir, const fs::path& spec_dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw Error(dir.string() + ": no such directory");
  std::vector<std::string> missing;
  for (const char* file : kRequired) {
    if (!fs::is_regular_file(dir / file, error)) missing.push_back(file);
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw Error(dir.string() + ": not an autoresearch layout: missing " + list +
                " (needs prepare.py, train.py and program.md)");
  }
  const std::string train = ReadFile(dir / "train.py");
  const std::string prepare = ReadFile(dir / "prepare.py");
  const std::string evaluate = ReadIfPresent(dir / "evaluate.py");
  const bool has_evaluator = !evaluate.empty() && Mentions(evaluate, "--checkpoint");
  const bool prepares_split = Mentions(prepare, "--out") && Mentions(prepare, "val.bin");

  LayoutGuess g;
  json& spec = g.spec;
  const std::string name = NameOf(dir);
  spec["name"] = name;
  spec["description"] = "Started by `ratchet init` from " + dir.string() +
                        " (autoresearch layout): an agent rewrites train.py.";
  spec["template"] = TemplatePath(dir, spec_dir);
  spec["mutable"] = {"train.py"};
  json immutable = {PinnedPath(dir, spec_dir, "prepare.py")};
  if (has_evaluator) immutable.push_back(PinnedPath(dir, spec_dir, "evaluate.py"));
  spec["immutable"] = immutable;
  g.guessed.push_back("mutable: train.py (the only file a mutation may change)");
  g.guessed.push_back("pinned by hash, checked before every evaluation: " +
                      std::string(has_evaluator ? "prepare.py, evaluate.py" : "prepare.py"));

  std::optional<double> seconds = TimeBudgetIn(prepare);
  if (!seconds) seconds = TimeBudgetIn(train);
  spec["budget"] = {{"kind", "time"}, {"seconds", seconds.value_or(kAutoresearchBudgetSeconds)}};
  g.guessed.push_back(seconds ? fmt::format("budget: {:g} s (TIME_BUDGET)", *seconds)
                              : "budget: 300 s (autoresearch's default; no TIME_BUDGET found)");

  // The controller's flags train.py's source mentions.
  std::vector<std::string> argv = {kPython, "{workspace}/train.py"};
  std::vector<std::string> flags;
  const bool has_data = prepares_split && Mentions(train, "--data");
  if (has_data) argv.insert(argv.end(), {"--data", "{train_data}"});
  if (Mentions(train, "--out")) argv.insert(argv.end(), {"--out", "{run_dir}/model.pt"});
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--seed", "{seed}"}, {"--threads", "{threads}"}, {"--time-budget", "{budget}"}}) {
    if (Mentions(train, flag)) {
      argv.insert(argv.end(), {flag, value});
      flags.push_back(flag);
    }
  }
  spec["train"] = {{"argv", argv}, {"timeout_factor", 2.0}, {"grace_seconds", 120}};
  g.guessed.push_back("train: " + Join(argv));
  if (!Mentions(train, "--seed")) {
    g.check.push_back(
        "train.py takes no --seed: the ratchet's fresh seeds cannot reach it, so repeats measure "
        "one draw and `confirm` rejects candidates that ignore the seed; add --seed to train.py "
        "and to train.argv");
  }
  if (!Mentions(train, "--time-budget")) {
    g.check.push_back(
        "train.py takes no --time-budget: it must stop on its own within the "
        "budget; `ratchet run --budget` cannot change it");
  }

  if (has_evaluator) {
    const json eval_argv = {kPython,
                            "-I",
                            PinnedPath(dir, spec_dir, "evaluate.py"),
                            "--checkpoint",
                            "{run_dir}/model.pt",
                            "--data",
                            "{data_dir}",
                            "--threads",
                            "{threads}"};
    spec["evaluate"] = {{"argv", eval_argv}, {"timeout_seconds", 600}};
    spec["metric"] = {{"name", "val_bpb"}, {"goal", "minimize"}, {"format", "json"}};
    g.guessed.push_back(
        "evaluate: the pinned evaluate.py scores the checkpoint train.py writes "
        "to --out (a JSON line holding val_bpb)");
  } else {
    // autoresearch's train.py scores itself with prepare.py's evaluate_bpb.
    spec["evaluate"] = {{"argv", {"/bin/cat", "{run_dir}/train.out"}}, {"timeout_seconds", 60}};
    spec["metric"] = {{"name", "val_bpb"}, {"goal", "minimize"}, {"format", "kv"}};
    g.guessed.push_back(
        "evaluate: the last `val_bpb: X` line train.py prints (it evaluates "
        "itself; no evaluate.py)");
    g.check.push_back(
        "the metric is what train.py prints about itself: a mutation can print any number. "
        "Write an evaluator that loads a checkpoint (see experiments/nanogpt-torch/evaluate.py), "
        "pin it in immutable and point evaluate.argv at it");
  }
  if (!Mentions(train + prepare + evaluate, "val_bpb")) {
    g.check.push_back("no file mentions val_bpb: set metric.name (and goal) to what is printed");
  }

  if (has_data) {
    json heldout = {"val.bin"};
    if (Mentions(prepare, "manifest.json")) heldout.push_back("manifest.json");
    spec["data"] = {
        {"dir", "{cache_dir}/" + name},
        {"train", {"train.bin"}},
        {"heldout", heldout},
        {"prepare",
         {kPython, "-I", PinnedPath(dir, spec_dir, "prepare.py"), "--out", "{data_dir}"}}};
    g.guessed.push_back("data: prepare.py --out writes train.bin (train sees only it) and " +
                        heldout.dump() + " (only the evaluator sees them) into {cache_dir}/" +
                        name);
  } else {
    g.check.push_back(
        "no data section: train.py reads its data where prepare.py put it (autoresearch: "
        "~/.cache/autoresearch), which the sandbox hides. Add a data section (docs/spec.md) so "
        "train sees only the train files, or list the folder in sandbox.extra_ro (train.py can "
        "then read the held-out data too)");
  }

  spec["acceptance"] = {
      {"policy", "confirm"}, {"calibration", 3}, {"repeats", 2}, {"min_delta", 0.0}};
  spec["proposer"] = {{"kind", "command"},
                      {"argv", {"YOUR-AGENT-CLI", "{prompt_file}"}},
                      {"program", "program.md"},
                      {"timeout_seconds", 1800}};
  g.check.push_back(
      "proposer.argv: replace YOUR-AGENT-CLI with your agent's command line, run in the "
      "candidate's worktree with the prompt file (e.g. [\"claude\", \"--print\", "
      "\"--permission-mode\", \"acceptEdits\", \"Read program.md and {prompt_file}, then improve "
      "train.py\"]); try `ratchet propose SPEC --dry-run`");
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  spec["limits"] = {{"threads", cores}, {"memory_mb", 0}};
  g.guessed.push_back("threads: " + std::to_string(cores) + " (this machine's cores)" +
                      (flags.empty() ? "" : ", passed as " + Join(flags)));
  g.check.push_back(std::string("train and evaluate run ") + kPython +
                    " under the sandbox (system read-only, no network): it must import what "
                    "train.py needs (Debian's python3-torch)");
  if (fs::is_regular_file(dir / "pyproject.toml", error)) {
    g.check.push_back(
        "pyproject.toml found: its environment is not used; if it lives outside "
        "/usr (uv, venv), put its python in train.argv and its folder in "
        "sandbox.extra_ro");
  }
  if (fs::is_regular_file(dir / "results.tsv", error)) {
    g.check.push_back(
        "results.tsv found and left alone: ratchet writes its own at "
        "<workspace>/.ratchet/runs/<tag>/results.tsv, same columns");
  }
  return g;
}

void CommandInit(const InitOptions& options, std::ostream& out) {
  const fs::path output = options.output.empty() ? options.dir / "ratchet.json" : options.output;
  const fs::path spec_dir = output.parent_path().empty() ? "." : output.parent_path();
  LayoutGuess guess = InspectAutoresearch(options.dir, spec_dir);
  std::error_code error;
  if (fs::exists(output, error) && !options.force) {
    throw Error(output.string() + ": exists; pass --force to replace it");
  }
  const std::string text = guess.spec.dump(2) + "\n";
  ParseSpec(text, output);  // our own mistake, if any, before anything is written
  WriteFileAtomic(output, text);
  out << "wrote " << output.string() << ": a starting spec for the autoresearch layout in "
      << options.dir.string() << "\nguessed:\n";
  for (const std::string& line : guess.guessed) out << "  - " << line << "\n";
  out << "check before `ratchet run " << output.string() << " --workspace WS`:\n";
  for (const std::string& line : guess.check) out << "  - " << line << "\n";
}

}  // namespace ratchet

// Search efficiency and false accepts of ratchet's search proposers on the
// toy objective (harness/toy.cc, experiments/toy/README.md), in process: the
// real proposers (random, local, evolution, tpe, additive) and the real acceptance
// rule (acceptance.h) drive a simulated loop whose "measurement" is the
// toy's objective plus N(0, noise) noise. One JSON line per (strategy, seed).
//
//   ratchet-bench-search search --strategy tpe --seeds 10 --experiments 50
//   ratchet-bench-search search --strategy tpe --option multivariate=false
//   ratchet-bench-search aa --policy confirm --seeds 20 --experiments 100
//   ratchet-bench-search aa --policy confirm --extend-above 0   (one confirm round)
//   ratchet-bench-search objective PARAMS.json [FOREST]  (checked against ratchet-toy /
//                                                         the fitting script)
//   ratchet-bench-search search --surrogate FOREST --noise 0.018 --strategy additive
//
// --surrogate swaps the toy for a tinygpt-like landscape: a tree ensemble
// fitted to measured trainings (bench/tinygpt_surrogate.py writes it and runs
// this), with its search space and baseline.
//
// bench/search_efficiency.py runs this, Optuna's TPE on the same objective,
// and checks the objective against the ratchet-toy program first.
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <iostream>
#include <map>
#include <random>
#include <string>

#include "bench/surrogate_forest.h"
#include "ratchet/loop/acceptance.h"
#include "base/fs.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// harness/toy.cc Objective(), documented in experiments/toy/README.md.
double ToyObjective(const json& p) {
  static const std::map<std::string, double> kPenalty = {
      {"relu", 0.3}, {"gelu", 0.1}, {"swiglu", 0.0}, {"tanh", 0.6}};
  double x = p["x"], y = p["y"], lr = p["lr"];
  double depth = p["depth"].get<double>(), width = p["width"].get<double>();
  double dlr = std::log10(lr) - std::log10(3e-3);
  double dwidth = std::log2(width) - 8;
  return (x - 1.5) * (x - 1.5) + 0.5 * (y + 0.5) * (y + 0.5) + dlr * dlr +
         0.1 * (depth - 6) * (depth - 6) + 0.25 * dwidth * dwidth + kPenalty.at(p["act"]);
}

const json kBaseline =
    json::parse(R"({"x": -3.0, "y": 2.0, "lr": 0.1, "depth": 2, "width": 64, "act": "relu"})");

SearchSpace ToySpace() {
  SearchSpace s;
  auto add = [&](std::string name, Param::Type type, double min, double max, bool log = false) {
    Param p;
    p.name = std::move(name);
    p.type = type;
    p.min = min;
    p.max = max;
    p.log = log;
    s.params.push_back(p);
    return &s.params.back();
  };
  add("x", Param::Type::kFloat, -5, 5);
  add("y", Param::Type::kFloat, -5, 5);
  add("lr", Param::Type::kFloat, 1e-5, 1.0, true);
  add("depth", Param::Type::kInt, 1, 16);
  add("width", Param::Type::kInt, 16, 1024, true);
  add("act", Param::Type::kChoice, 0, 0)->values = {"relu", "gelu", "swiglu", "tanh"};
  return s;
}

// The A/A space: one parameter the toy ignores, so no mutation changes the outcome.
SearchSpace IgnoredSpace() {
  SearchSpace s;
  Param p;
  p.name = "unused";
  p.min = 0;
  p.max = 1;
  s.params.push_back(p);
  return s;
}

// What a simulated run searches: its space, where it starts and the true
// (noise-free) objective of a config.
struct Problem {
  SearchSpace space;
  json baseline;
  std::function<double(const json&)> truth;
};

struct Options {
  std::string mode, strategy = "tpe", policy = "confirm", surrogate;
  int seeds = 10, experiments = 50, first_seed = 1;
  double noise = 0.3;
  int calibration = 3, repeats = 2;
  int plateau = 10;  // spec.proposer.plateau; 0 turns the plateau response off
  double extend_above = AcceptanceRule{}.extend_above;  // 0: one confirm round only
  json proposer_options = json::object();  // --option KEY=JSON, e.g. multivariate=false
};

struct RunResult {
  std::vector<double> best_true;  // after each experiment
  int measurements = 0, accepted = 0, invalid = 0, duplicates = 0;
};

// One simulated ratchet run, as ratchet/loop/loop.cc does it: propose from the
// best, skip duplicates (free), measure once, let the policy decide, confirm
// with fresh measurements.
RunResult Simulate(const Options& o, int seed, const Problem& problem, const fs::path& dir) {
  Spec spec;
  spec.name = "toy";
  spec.proposer.kind = o.strategy;
  spec.proposer.config = "params.json";
  spec.proposer.seed = static_cast<uint64_t>(seed);
  spec.proposer.plateau = o.plateau;
  spec.proposer.options = o.proposer_options;
  spec.proposer.options["kind"] = o.strategy;
  spec.proposer.options["config"] = "params.json";
  spec.search_space = problem.space;
  std::unique_ptr<Proposer> proposer = MakeProposer(spec);

  AcceptanceRule rule;
  rule.policy = o.policy == "strict" ? Policy::kStrict : Policy::kConfirm;
  rule.extend_above = o.extend_above;
  std::mt19937_64 noise_rng(0x5eed0000ULL + static_cast<uint64_t>(seed));
  std::normal_distribution<double> normal(0.0, o.noise);
  RunResult r;
  auto measure = [&](const json& config) {
    ++r.measurements;
    return problem.truth(config) + normal(noise_rng);
  };

  json best = problem.baseline;
  std::vector<double> best_samples;
  for (int i = 0; i < o.calibration; ++i) best_samples.push_back(measure(best));
  std::vector<std::vector<double>> noise_groups = {best_samples};
  std::vector<HistoryEntry> history = {{0, "accepted", Mean(best_samples), json(), "baseline", ""}};
  std::vector<json> evaluated = {best};

  int64_t seq = 1;
  int done = 0, duplicates_in_a_row = 0;
  while (done < o.experiments) {
    WriteFileAtomic(dir / "params.json", best.dump(2) + "\n");
    ProposalContext ctx{spec,
                        seq,
                        ProposalSeed(spec.proposer.seed, seq),
                        dir,
                        best,
                        history,
                        history.back().metric};
    for (const HistoryEntry& h : history) {
      if (h.status == "accepted") ctx.best_metric = h.metric;
    }
    HistoryEntry entry{seq, "", std::nullopt, json(), "", ""};
    ++seq;
    Proposal p;
    try {
      p = proposer->Propose(ctx);
    } catch (const ProposalError& e) {
      entry.status = "invalid";
      history.push_back(entry);
      ++r.invalid;
      ++done;
      r.best_true.push_back(problem.truth(best));
      continue;
    }
    json config = json::parse(ReadFile(dir / "params.json"));
    entry.params = config;
    entry.description = p.description;
    bool duplicate = false;
    for (const json& e : evaluated) duplicate = duplicate || e == config;
    if (duplicate) {
      entry.status = "duplicate";
      history.push_back(entry);
      ++r.duplicates;
      if (++duplicates_in_a_row >= 50) break;  // the loop stops such a run
      continue;
    }
    duplicates_in_a_row = 0;
    evaluated.push_back(config);
    double first = measure(config);
    // As ratchet/loop/loop.cc: the gate, then fresh measurements one at a time.
    Verdict v = DecideFirst(rule, best_samples, first, PooledNoise(noise_groups));
    const Verdict gate = v;
    std::vector<double> fresh;
    while (v.kind == Verdict::Kind::kMeasureMore) {
      fresh.push_back(measure(config));
      std::vector<std::vector<double>> groups = noise_groups;
      groups.push_back(fresh);
      v = DecideFresh(rule, best_samples, gate, fresh, PooledNoise(groups), o.repeats);
    }
    if (fresh.size() >= 2) noise_groups.push_back(fresh);
    entry.metric = fresh.empty() ? first : Mean(fresh);
    if (v.kind == Verdict::Kind::kAccept) {
      entry.status = "accepted";
      best = config;
      best_samples = fresh.empty() ? std::vector<double>{first} : fresh;
      ++r.accepted;
    } else {
      entry.status = "rejected";
    }
    history.push_back(entry);
    ++done;
    r.best_true.push_back(problem.truth(best));
  }
  return r;
}

int Main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    std::cerr << "usage: ratchet-bench-search search|aa|objective [--strategy S] [--policy P] "
                 "[--seeds N] [--first-seed N] [--experiments N] [--noise SD] [--plateau N] "
                 "[--extend-above F] [--surrogate FOREST] [--option KEY=JSON]...\n";
    return 2;
  }
  o.mode = argv[1];
  if (o.mode == "objective") {  // PARAMS.json [FOREST]: the toy's, or the surrogate's
    if (argc != 3 && argc != 4) return 2;
    const json params = json::parse(ReadFile(argv[2]));
    const double value = argc == 4 ? bench::SurrogateForest::Load(argv[3]).Predict(params)
                                   : ToyObjective(params);
    std::printf("%.12g\n", value);
    return 0;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--strategy")
      o.strategy = v;
    else if (k == "--policy")
      o.policy = v;
    else if (k == "--seeds")
      o.seeds = std::stoi(v);
    else if (k == "--first-seed")
      o.first_seed = std::stoi(v);
    else if (k == "--experiments")
      o.experiments = std::stoi(v);
    else if (k == "--plateau")
      o.plateau = std::stoi(v);
    else if (k == "--noise")
      o.noise = std::stod(v);
    else if (k == "--extend-above")
      o.extend_above = std::stod(v);
    else if (k == "--surrogate")
      o.surrogate = v;
    else if (k == "--option" && v.find('=') != std::string::npos)
      o.proposer_options[v.substr(0, v.find('='))] = json::parse(v.substr(v.find('=') + 1));
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (o.mode == "aa") o.strategy = "random";  // any mutation of an ignored knob
  Problem problem{o.mode == "aa" ? IgnoredSpace() : ToySpace(), kBaseline, ToyObjective};
  if (!o.surrogate.empty()) {
    auto forest = std::make_shared<bench::SurrogateForest>(bench::SurrogateForest::Load(o.surrogate));
    problem = {forest->space(), forest->baseline(),
               [forest](const json& config) { return forest->Predict(config); }};
  }
  std::string tmpl = (fs::temp_directory_path() / "bench-search.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  fs::path dir = tmpl;
  for (int s = o.first_seed; s < o.first_seed + o.seeds; ++s) {
    RunResult r = Simulate(o, s, problem, dir);
    json line = {{"mode", o.mode},
                 {"strategy", o.strategy},
                 {"policy", o.policy},
                 {"seed", s},
                 {"curve", r.best_true},
                 {"measurements", r.measurements},
                 {"accepted", r.accepted},
                 {"invalid", r.invalid},
                 {"duplicates", r.duplicates},
                 {"experiments", r.best_true.size()},
                 {"calibration", o.calibration}};
    std::cout << line.dump() << std::endl;
  }
  fs::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace ratchet

int main(int argc, char** argv) {
  try {
    return ratchet::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ratchet-bench-search: " << e.what() << "\n";
    return 1;
  }
}

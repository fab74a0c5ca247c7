// evolution and tpe (and the shared plateau rule) over a search space with
// every parameter type and a condition, with a run history behind them.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "base/fs.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/propose/search_moves.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// optim.momentum only when optimizer is muon.
SearchSpace MixedSpace() {
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
  add("optim.lr", Param::Type::kFloat, 1e-4, 1e-1, true);
  add("depth", Param::Type::kInt, 1, 8);
  add("batch", Param::Type::kInt, 8, 512, true);
  add("optimizer", Param::Type::kChoice, 0, 0)->values = {"adamw", "muon"};
  add("optim.momentum", Param::Type::kFloat, 0.8, 0.99)->when["optimizer"] = {"muon"};
  add("tied", Param::Type::kBool, 0, 0);
  return s;
}

// Floats named `names`, each on [min, max].
SearchSpace FloatSpace(std::initializer_list<const char*> names, double min = 0, double max = 10) {
  SearchSpace s;
  for (const char* name : names) {
    Param p;
    p.name = name;
    p.min = min;
    p.max = max;
    s.params.push_back(p);
  }
  return s;
}

const json kBaseConfig = json::parse(R"({"x": 1.5, "depth": 4, "batch": 64, "optimizer": "adamw",
  "optim": {"lr": 0.003, "momentum": 0.9}, "tied": false})");

class SearchKindsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "search_kinds_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    worktree_ = tmpl;
  }
  void TearDown() override { fs::remove_all(worktree_); }

  void Configure(const std::string& kind, SearchSpace space, json extra = json::object()) {
    spec_ = Spec{};
    spec_.proposer.kind = kind;
    spec_.proposer.config = "params.json";
    spec_.proposer.plateau = 10;
    spec_.proposer.options = {{"kind", kind}, {"config", "params.json"}};
    spec_.proposer.options.update(extra);
    spec_.search_space = std::move(space);
  }
  void WriteConfig(const json& config) {
    std::ofstream(worktree_ / "params.json") << config.dump(2) << "\n";
  }
  json ReadConfig() { return json::parse(ReadFile(worktree_ / "params.json")); }

  std::unique_ptr<Proposer> Make() {
    if (spec_.proposer.kind == "evolution") return MakeEvolutionProposer(spec_);
    if (spec_.proposer.kind == "tpe") return MakeTpeProposer(spec_);
    if (spec_.proposer.kind == "additive") return MakeAdditiveProposer(spec_);
    if (spec_.proposer.kind == "local") return MakeLocalProposer(spec_);
    return MakeRandomProposer(spec_);
  }

  Proposal ProposeFrom(const json& config, int64_t seq, std::vector<HistoryEntry> history,
                       std::vector<HistoryEntry> prior = {}) {
    WriteConfig(config);
    ProposalContext ctx{
        spec_, seq, ProposalSeed(42, seq), worktree_, config, std::move(history), std::nullopt};
    ctx.prior = std::move(prior);
    return Make()->Propose(ctx);
  }

  Spec spec_;
  fs::path worktree_;
};

// A history of `n` measured random configurations, scored by `loss`.
std::vector<HistoryEntry> RandomHistory(const SearchSpace& space, const json& base, int n,
                                        const std::function<double(const json&)>& loss,
                                        uint64_t seed = 3) {
  std::mt19937_64 rng(seed);
  std::vector<HistoryEntry> history;
  history.push_back({0, "accepted", loss(base), json(), "baseline", ""});
  for (int i = 1; i <= n; ++i) {
    json c = base;
    for (const Param* p : space.AssignmentOrder()) {
      json v = SampleValue(*p, rng);
      if (space.IsActive(*p, c)) SetPath(c, p->name, v);
    }
    history.push_back({i, "rejected", loss(c), c, "random", ""});
  }
  return history;
}

double MixedLoss(const json& c) {
  double x = c["x"].get<double>();
  return (x - 2) * (x - 2) + (c["optimizer"] == "muon" ? 0.0 : 1.0);
}

TEST_F(SearchKindsTest, EvolutionAndTpeStayInsideTheSpaceAndRespectConditions) {
  for (const std::string kind : {"evolution", "tpe", "additive", "local", "random"}) {
    Configure(kind, MixedSpace(), {{"startup", 5}});
    std::vector<HistoryEntry> history =
        RandomHistory(spec_.search_space, kBaseConfig, 30, MixedLoss);
    for (int seq = 31; seq < 61; ++seq) {
      Proposal p = ProposeFrom(kBaseConfig, seq, history);
      json after = ReadConfig();
      for (const Param& param : spec_.search_space.params) {
        const json* v = GetPath(after, param.name);
        ASSERT_NE(v, nullptr) << kind << " " << param.name;
        EXPECT_TRUE(spec_.search_space.Contains(param, *v))
            << kind << " " << param.name << " = " << *v;
      }
      // momentum belongs to muon: under adamw it keeps the file's value.
      if (after["optimizer"] == "adamw") {
        EXPECT_EQ(after["optim"]["momentum"], 0.9) << kind;
      }
      EXPECT_FALSE(p.description.empty()) << kind;
      EXPECT_EQ(p.params, after) << kind;
    }
  }
}

// One float on [0, 10] with its optimum at 7: after 40 measured points TPE's
// proposals gather near 7, where random ones spread over the range.
TEST_F(SearchKindsTest, TpeProposesNearTheBestRegionOnceItHasData) {
  SearchSpace space = FloatSpace({"x"});
  Configure("tpe", space);
  auto loss = [](const json& c) { return std::pow(c["x"].get<double>() - 7, 2); };
  std::vector<HistoryEntry> history = RandomHistory(space, json{{"x", 1.0}}, 40, loss);
  int near = 0;
  for (int seq = 41; seq < 81; ++seq) {
    ProposeFrom(json{{"x", 1.0}}, seq, history);
    near += std::fabs(ReadConfig()["x"].get<double>() - 7) < 1.5;
  }
  EXPECT_GE(near, 28);  // random search: about 30% of 40 = 12
}

// Two good regions, (2, 8) and (8, 2): multivariate TPE draws x and y from
// the same good observation and so never proposes a bad mix such as (8, 8);
// independent TPE draws them separately and mixes them now and then (4 of 80
// with these seeds).
TEST_F(SearchKindsTest, MultivariateTpeKeepsValuesThatWorkTogether) {
  SearchSpace space = FloatSpace({"x", "y"});
  auto loss = [](const json& c) {
    double a = c["x"].get<double>(), b = c["y"].get<double>();
    return std::min(std::pow(a - 2, 2) + std::pow(b - 8, 2),
                    std::pow(a - 8, 2) + std::pow(b - 2, 2));
  };
  const json start = {{"x", 5.0}, {"y", 5.0}};
  std::map<bool, int> mixed;
  for (bool multivariate : {true, false}) {
    Configure("tpe", space, {{"multivariate", multivariate}});
    spec_.proposer.plateau = 1000;  // the estimators alone, no plateau response
    std::vector<HistoryEntry> history = RandomHistory(space, start, 40, loss);
    for (auto [a, b] : {std::pair{2.0, 8.0}, {2.3, 7.7}, {8.0, 2.0}, {7.7, 2.3}}) {
      json c = {{"x", a}, {"y", b}};
      history.push_back({static_cast<int64_t>(history.size()), "rejected", loss(c), c, "", ""});
    }
    for (int seq = 45; seq < 125; ++seq) {
      ProposeFrom(start, seq, history);
      json c = ReadConfig();
      mixed[multivariate] += (c["x"].get<double>() < 5) == (c["y"].get<double>() < 5);
    }
  }
  EXPECT_EQ(mixed[true], 0) << "of 80";
  EXPECT_GT(mixed[false], 0) << "of 80";
}

// The model-based kinds: tpe and additive.
const std::vector<std::string> kModelKinds = {"tpe", "additive"};

TEST_F(SearchKindsTest, ModelsSampleUniformlyUntilStartupIsReached) {
  for (const std::string& kind : kModelKinds) {
    SearchSpace space = FloatSpace({"x"});
    Configure(kind, space, {{"startup", 10}});
    auto loss = [](const json& c) { return std::pow(c["x"].get<double>() - 7, 2); };
    std::vector<HistoryEntry> history = RandomHistory(space, json{{"x", 1.0}}, 5, loss);
    int low = 0;
    for (int seq = 6; seq < 66; ++seq) {
      ProposeFrom(json{{"x", 1.0}}, seq, history);
      low += ReadConfig()["x"].get<double>() < 5;
    }
    EXPECT_GT(low, 15) << kind;  // uniform: about half of 60 fall below 5
    EXPECT_LT(low, 45) << kind;
  }
}

TEST_F(SearchKindsTest, ModelsLearnFromEarlierRunsWhenWarmStarted) {
  for (const std::string& kind : kModelKinds) {
    SearchSpace space = FloatSpace({"x"});
    Configure(kind, space);
    auto loss = [](const json& c) { return std::pow(c["x"].get<double>() - 7, 2); };
    std::vector<HistoryEntry> prior = RandomHistory(space, json{{"x", 1.0}}, 40, loss);
    std::vector<HistoryEntry> fresh = {{0, "accepted", 36.0, json(), "baseline", ""}};
    int near_cold = 0, near_warm = 0;
    for (int seq = 1; seq < 41; ++seq) {
      ProposeFrom(json{{"x", 1.0}}, seq, fresh);
      near_cold += std::fabs(ReadConfig()["x"].get<double>() - 7) < 1.5;
      ProposeFrom(json{{"x", 1.0}}, seq, fresh, prior);
      near_warm += std::fabs(ReadConfig()["x"].get<double>() - 7) < 1.5;
    }
    EXPECT_GE(near_warm, 28) << kind;
    EXPECT_LT(near_cold, 20) << kind;
  }
}

// Crashed configs count as bad (tpe) or as the worst measured (additive).
TEST_F(SearchKindsTest, ModelsAvoidAChoiceThatKeepsCrashing) {
  SearchSpace space;
  Param act;
  act.name = "act";
  act.type = Param::Type::kChoice;
  act.values = {"a", "b", "c"};
  Param x;
  x.name = "x";
  x.min = 0;
  x.max = 1;
  space.params = {act, x};
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""}};
  for (int i = 1; i <= 30; ++i) {
    std::string choice = std::string(1, "abc"[i % 3]);
    json c = {{"act", choice}, {"x", (i % 10) / 10.0}};
    if (choice == "a") {
      history.push_back({i, "crashed", std::nullopt, c, "", "train killed by SIGABRT"});
    } else {
      history.push_back({i, "rejected", choice == "b" ? 0.5 : 0.9, c, "", ""});
    }
  }
  for (const std::string& kind : kModelKinds) {
    Configure(kind, space, {{"startup", 5}});
    int a = 0;
    for (int seq = 31; seq < 71; ++seq) {
      ProposeFrom(json{{"act", "c"}, {"x", 0.5}}, seq, history);
      a += ReadConfig()["act"] == "a";
    }
    EXPECT_LT(a, 6) << kind;
  }
}

// An additive loss: muon is worth 2, x best at 2. After 30 random measured
// configs the model's draws agree on both, where random proposals pick muon
// half the time and land within 1 of x = 2 a fifth of the time.
TEST_F(SearchKindsTest, AdditiveProposesWhatTheModelSaysIsGood) {
  Configure("additive", MixedSpace());
  auto loss = [](const json& c) {
    double x = c["x"].get<double>();
    return 0.1 * (x - 2) * (x - 2) + (c["optimizer"] == "muon" ? 0.0 : 2.0);
  };
  std::vector<HistoryEntry> history = RandomHistory(spec_.search_space, kBaseConfig, 30, loss);
  int muon = 0, near = 0;
  for (int seq = 31; seq < 71; ++seq) {
    ProposeFrom(kBaseConfig, seq, history);
    json c = ReadConfig();
    muon += c["optimizer"] == "muon";
    near += std::fabs(c["x"].get<double>() - 2) < 1;
  }
  EXPECT_GE(muon, 36) << "of 40";
  EXPECT_GE(near, 30) << "of 40";
}

// The good configurations all use muon: children of the population inherit it.
TEST_F(SearchKindsTest, EvolutionChildrenInheritFromTheBestConfigurations) {
  Configure("evolution", MixedSpace(), {{"population", 6}});
  std::vector<HistoryEntry> history = RandomHistory(spec_.search_space, kBaseConfig, 40, MixedLoss);
  json best = kBaseConfig;
  best["optimizer"] = "muon";
  best["x"] = 2.0;
  int muon = 0;
  for (int seq = 41; seq < 81; ++seq) {
    ProposeFrom(best, seq, history);
    muon += ReadConfig()["optimizer"] == "muon";
  }
  EXPECT_GE(muon, 30);
}

TEST_F(SearchKindsTest, EvolutionNeverRepeatsAMeasuredConfiguration) {
  SearchSpace space;
  Param d;
  d.name = "depth";
  d.type = Param::Type::kInt;
  d.min = 1;
  d.max = 4;
  space.params.push_back(d);
  Configure("evolution", space, {{"population", 2}});  // past the random first generation
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""},
                                       {1, "rejected", 2.0, json{{"depth", 2}}, "", ""},
                                       {2, "rejected", 3.0, json{{"depth", 3}}, "", ""}};
  for (int seq = 3; seq < 23; ++seq) {
    ProposeFrom(json{{"depth", 1}}, seq, history);
    EXPECT_EQ(ReadConfig()["depth"], 4) << "the only unmeasured value";
  }
}

TEST(ObservationsTest, KeepMeasuredAndFailedConfigsOrientedByTheGoal) {
  Spec spec;
  spec.metric.goal = MetricSpec::Goal::kMaximize;
  std::vector<HistoryEntry> history = {
      {0, "accepted", 1.0, json(), "baseline", ""},
      {1, "rejected", 2.0, json{{"x", 1}}, "", ""},
      {2, "invalid", std::nullopt, json{{"x", 2}}, "", "changed nothing"},
      {3, "crashed", std::nullopt, json{{"x", 3}}, "", "exit 2"},
      {4, "duplicate", std::nullopt, json{{"x", 1}}, "", ""},
  };
  ProposalContext ctx{spec, 5, 1, "/nonexistent", json(), history, std::nullopt};
  ctx.prior = {{7, "accepted", 5.0, json{{"x", 9}}, "", ""}};
  std::vector<Observation> obs = Observations(ctx, true, json{{"x", 0}});
  ASSERT_EQ(obs.size(), 4u);
  EXPECT_TRUE(obs[0].prior);
  EXPECT_EQ(obs[0].loss, -5.0);
  EXPECT_EQ(obs[1].params, (json{{"x", 0}}));  // the baseline gets the given config
  EXPECT_EQ(obs[1].loss, -1.0);
  EXPECT_EQ(obs[2].loss, -2.0);
  EXPECT_TRUE(obs[3].failed);
  EXPECT_EQ(Observations(ctx, false, json{{"x", 0}}).size(), 3u);
  // Once another experiment is accepted the worktree's config is that one's,
  // not the baseline's: the baseline is left out rather than mislabelled.
  history.push_back({5, "accepted", 3.0, json{{"x", 5}}, "", ""});  // ctx.history refers to it
  std::vector<Observation> later = Observations(ctx, false, json{{"x", 5}});
  ASSERT_EQ(later.size(), 3u);
  EXPECT_EQ(later[0].seq, 1);
}

TEST(PlateauTest, StepDoublesAfterEachPlateauAndTheFirstExperimentOfALevelSaysSo) {
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""}};
  PlateauState s = Plateau("local", history, 3, 0.1);
  EXPECT_EQ(s.level, 0);
  EXPECT_DOUBLE_EQ(s.step, 0.1);
  for (int i = 1; i <= 3; ++i) history.push_back({i, "rejected", 2.0, json(), "", ""});
  history.push_back({4, "duplicate", std::nullopt, json(), "", ""});  // free: not counted
  s = Plateau("local", history, 3, 0.1);
  EXPECT_EQ(s.level, 1);
  EXPECT_DOUBLE_EQ(s.step, 0.2);
  EXPECT_NE(s.note.find("plateau"), std::string::npos);
  EXPECT_NE(s.note.find("0.1 -> 0.2"), std::string::npos) << s.note;
  history.push_back({5, "crashed", std::nullopt, json(), "", ""});
  s = Plateau("local", history, 3, 0.1);
  EXPECT_EQ(s.level, 1);
  EXPECT_EQ(s.note, "");  // said once per level
  for (int i = 6; i <= 40; ++i) history.push_back({i, "rejected", 2.0, json(), "", ""});
  EXPECT_DOUBLE_EQ(Plateau("local", history, 3, 0.1).step, 1.0);  // capped at the whole range
  history.push_back({41, "accepted", 0.5, json(), "", ""});
  EXPECT_EQ(Plateau("local", history, 3, 0.1).level, 0);
}

// Under --parallel a stale winner is rejected only because the best moved;
// its change beat its parent and goes on (carried), so it ends a plateau
// as an acceptance does.
TEST(PlateauTest, ACarriedChangeEndsAPlateauAsAnAcceptanceDoes) {
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""}};
  for (int i = 1; i <= 6; ++i) history.push_back({i, "rejected", 2.0, json(), "", ""});
  EXPECT_EQ(Plateau("local", history, 3, 0.1).level, 2);
  HistoryEntry stale{7, "rejected", 0.8, json(), "", "...; but its parent is no longer the best"};
  history.push_back(stale);
  EXPECT_EQ(Plateau("local", history, 3, 0.1).level, 2);  // a loss like any other
  history.back().carried = true;
  EXPECT_EQ(Plateau("local", history, 3, 0.1).level, 0);
  EXPECT_EQ(ExperimentsSinceAccepted(history), 0);
  history.push_back({8, "rejected", 2.0, json(), "", ""});
  EXPECT_EQ(ExperimentsSinceAccepted(history), 1);
}


TEST_F(SearchKindsTest, LocalWidensItsStepOnAPlateauAndSaysSoOnce) {
  SearchSpace space = FloatSpace({"x"}, -100, 100);
  Configure("local", space);
  spec_.proposer.plateau = 5;
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""}};
  auto mean_step = [&](const std::vector<HistoryEntry>& h) {
    double total = 0;
    for (int seq = 100; seq < 160; ++seq) {
      ProposeFrom(json{{"x", 0.0}}, seq, h);
      total += std::fabs(ReadConfig()["x"].get<double>());
    }
    return total / 60;
  };
  double calm = mean_step(history);
  EXPECT_TRUE(ProposeFrom(json{{"x", 0.0}}, 1, history).notes.empty());
  for (int i = 1; i <= 10; ++i) history.push_back({i, "rejected", 2.0, json{{"x", i}}, "", ""});
  Proposal p = ProposeFrom(json{{"x", 0.0}}, 11, history);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("local: plateau, 10 experiments without an accepted change"),
            std::string::npos)
      << p.notes[0];
  double wide = mean_step(history);
  EXPECT_GT(wide, 3 * calm);  // two plateaus: step x4
  history.push_back({11, "rejected", 2.0, json{{"x", 11}}, "", ""});
  EXPECT_TRUE(ProposeFrom(json{{"x", 0.0}}, 12, history).notes.empty());
}


// additive's local moves widen on a plateau as local's steps do; the note
// comes once, on the experiment where a plateau level starts.
TEST_F(SearchKindsTest, AdditiveWidensItsMovesOnAPlateauAndSaysSoOnce) {
  SearchSpace space = FloatSpace({"x", "y"}, -100, 100);
  Configure("additive", space, {{"startup", 3}});
  spec_.proposer.plateau = 5;
  const json start = {{"x", 0.0}, {"y", 0.0}};
  std::vector<HistoryEntry> history = {{0, "accepted", 1.0, json(), "baseline", ""}};
  for (int i = 1; i <= 4; ++i) {
    history.push_back({i, "accepted", 1.0 - i / 10.0, json{{"x", i}, {"y", -i}}, "", ""});
  }
  EXPECT_TRUE(ProposeFrom(start, 5, history).notes.empty());
  for (int i = 5; i <= 14; ++i) {
    history.push_back({i, "rejected", 2.0, json{{"x", 3 * i}, {"y", 3 * i}}, "", ""});
  }
  Proposal p = ProposeFrom(start, 15, history);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("additive: plateau, 10 experiments without an accepted change"),
            std::string::npos)
      << p.notes[0];
  history.push_back({15, "rejected", 2.0, json{{"x", 50}, {"y", 50}}, "", ""});
  EXPECT_TRUE(ProposeFrom(start, 16, history).notes.empty());
}

// On a plateau TPE draws four times the candidates and keeps the best by
// l(x)/g(x): its proposals gather closer to the good region (optimum 7 of
// [0, 10]) than the same history gives without a plateau. The note comes
// once, on the experiment where the plateau starts.
TEST_F(SearchKindsTest, TpeExploitsHarderOnAPlateauAndSaysSoOnce) {
  SearchSpace space = FloatSpace({"x", "y", "z"});
  Configure("tpe", space);
  auto distance = [](const json& c) {
    return std::hypot(c["x"].get<double>() - 7, c["y"].get<double>() - 3, c["z"].get<double>() - 5);
  };
  auto loss = [&](const json& c) { return distance(c) * distance(c); };
  const json start = {{"x", 1.0}, {"y", 1.0}, {"z", 1.0}};
  std::vector<HistoryEntry> history = RandomHistory(space, start, 20, loss);
  auto mean_distance = [&](int plateau) {
    spec_.proposer.plateau = plateau;
    double total = 0;
    for (int seq = 100; seq < 300; ++seq) {
      ProposeFrom(start, seq, history);
      total += distance(ReadConfig());
    }
    return total / 200;
  };
  const double calm = mean_distance(1000), plateau = mean_distance(20);
  EXPECT_LT(plateau, 0.8 * calm) << "calm " << calm << ", plateau " << plateau;

  spec_.proposer.plateau = 20;
  Proposal p = ProposeFrom(start, 21, history);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_EQ(p.notes[0],
            "tpe: plateau, 20 experiments without an accepted change; candidates 24 -> 96");
  spec_.proposer.plateau = 19;  // started an experiment ago: nothing new to say
  EXPECT_TRUE(ProposeFrom(start, 21, history).notes.empty());
}

}  // namespace
}  // namespace ratchet

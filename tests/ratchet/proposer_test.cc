#include "ratchet/propose/proposer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "base/fs.h"
#include "ratchet/propose/search_proposer.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

// A space with every type, a log scale, a dotted path and a condition:
// optim.momentum only when optimizer is muon.
SearchSpace TestSpace() {
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

const char* kConfig = R"({
  "name": "toy",
  "x": 1.5,
  "depth": 4,
  "batch": 64,
  "optimizer": "adamw",
  "optim": {
    "lr": 0.003,
    "momentum": 0.9,
    "betas": [
      0.9,
      0.95
    ]
  },
  "tied": false,
  "notes": "untouched"
}
)";

class ProposerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "proposer_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    worktree_ = tmpl;
    spec_.proposer.kind = GetParam();
    spec_.proposer.config = "params.json";
    spec_.proposer.options = {{"kind", GetParam()}, {"config", "params.json"}};
    spec_.search_space = TestSpace();
    WriteConfig(kConfig);
  }
  void TearDown() override { fs::remove_all(worktree_); }

  void WriteConfig(const std::string& text) { std::ofstream(worktree_ / "params.json") << text; }
  std::string ReadConfig() { return ReadFile(worktree_ / "params.json"); }

  Proposal ProposeWith(uint64_t seed, std::vector<HistoryEntry> pending = {}) {
    std::unique_ptr<Proposer> p = MakeProposer(spec_);
    ProposalContext ctx{
        spec_, 1, seed, worktree_, json::parse(ReadConfig(), nullptr, false), {}, std::nullopt};
    ctx.pending = std::move(pending);
    return p->Propose(ctx);
  }

  // Proposes from the fixed kConfig with `seed`; returns before and after.
  std::pair<json, json> OneStep(uint64_t seed) {
    WriteConfig(kConfig);
    ProposeWith(seed);
    return {json::parse(kConfig), json::parse(ReadConfig())};
  }

  // Names of parameters whose values differ.
  std::vector<std::string> Changed(const json& a, const json& b) {
    std::vector<std::string> out;
    for (const Param& p : spec_.search_space.params) {
      const json* x = GetPath(a, p.name);
      const json* y = GetPath(b, p.name);
      if (!(x && y && *x == *y)) out.push_back(p.name);
    }
    return out;
  }

  Spec spec_;
  fs::path worktree_;
};

TEST_P(ProposerTest, ProposalsStayInsideTheSpace) {
  for (uint64_t seed = 0; seed < 120; ++seed) {
    auto [before, after] = OneStep(seed);
    for (const Param& p : spec_.search_space.params) {
      const json* v = GetPath(after, p.name);
      ASSERT_NE(v, nullptr) << p.name;
      EXPECT_TRUE(spec_.search_space.Contains(p, *v)) << p.name << " = " << v->dump();
      if (p.type == Param::Type::kInt) {
        EXPECT_TRUE(v->is_number_integer()) << p.name << " = " << v->dump();
      }
    }
  }
}

TEST_P(ProposerTest, NeverProposesTheUnchangedConfig) {
  for (uint64_t seed = 0; seed < 120; ++seed) {
    auto [before, after] = OneStep(seed);
    EXPECT_FALSE(Changed(before, after).empty()) << "seed " << seed;
  }
}

TEST_P(ProposerTest, FindsTheOnlyPossibleChangeInATinySpace) {
  SearchSpace s;
  Param b;
  b.name = "tied";
  b.type = Param::Type::kBool;
  s.params = {b};
  spec_.search_space = s;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    WriteConfig(kConfig);
    Proposal p = ProposeWith(seed);
    EXPECT_EQ(p.description, "tied false -> true");
    EXPECT_EQ(p.params["tied"], true);
  }
}

TEST_P(ProposerTest, ASpaceWithNothingToChangeIsAProposalError) {
  SearchSpace s;
  Param c;
  c.name = "optimizer";
  c.type = Param::Type::kChoice;
  c.values = {"adamw"};
  s.params = {c};
  spec_.search_space = s;
  EXPECT_THROW(ProposeWith(1), ProposalError);
  EXPECT_EQ(ReadConfig(), kConfig);  // nothing written
}

TEST_P(ProposerTest, InactiveParametersAreLeftAsTheyAre) {
  // momentum is inactive under adamw: whatever was proposed, if the new
  // optimizer is adamw, momentum keeps its old value. Starting from muon, so
  // local may perturb momentum and flip the optimizer in the same proposal.
  std::string muon = kConfig;
  muon.replace(muon.find("\"adamw\""), 7, "\"muon\"");
  int seen_inactive = 0, seen_changed_active = 0;
  for (uint64_t seed = 0; seed < 120; ++seed) {
    WriteConfig(muon);
    ProposeWith(seed);
    json after = json::parse(ReadConfig());
    if (after["optimizer"] == "adamw") {
      ++seen_inactive;
      EXPECT_EQ(after["optim"]["momentum"], 0.9) << "seed " << seed;
    } else if (after["optim"]["momentum"] != 0.9) {
      ++seen_changed_active;
    }
  }
  EXPECT_GT(seen_inactive, 0);
  EXPECT_GT(seen_changed_active, 0);  // once active, it does get proposed
}

TEST_P(ProposerTest, SameSeedProposesTheSameThing) {
  for (uint64_t seed : {1u, 2u, 99u}) {
    WriteConfig(kConfig);
    Proposal a = ProposeWith(seed);
    std::string file_a = ReadConfig();
    WriteConfig(kConfig);
    Proposal b = ProposeWith(seed);
    EXPECT_EQ(a.description, b.description);
    EXPECT_EQ(a.params, b.params);
    EXPECT_EQ(file_a, ReadConfig());
  }
  std::set<std::string> distinct;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    WriteConfig(kConfig);
    distinct.insert(ProposeWith(seed).description);
  }
  EXPECT_GT(distinct.size(), 10u);  // different seeds explore
}

TEST_P(ProposerTest, NeverProposesAConfigThatIsBeingMeasured) {
  for (uint64_t seed : {1u, 7u, 42u}) {
    WriteConfig(kConfig);
    Proposal alone = ProposeWith(seed);
    HistoryEntry pending;
    pending.seq = 2;
    pending.status = "pending";
    pending.params = alone.params;
    pending.description = alone.description;
    WriteConfig(kConfig);
    Proposal beside = ProposeWith(seed, {pending});
    EXPECT_FALSE(Changed(alone.params, beside.params).empty())
        << "seed " << seed << " proposed the pending " << alone.description << " again";
  }
}

TEST_P(ProposerTest, FileKeepsKeyOrderAndChangesOnlyChangedLines) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto [before, after] = OneStep(seed);
    std::string text = ReadConfig();
    ASSERT_EQ(text.back(), '\n');
    EXPECT_EQ(text, ordered_json::parse(text).dump(2) + "\n");
    std::istringstream a(kConfig), b(text);
    std::string la, lb;
    size_t lines = 0, differing = 0;
    while (std::getline(a, la) && std::getline(b, lb)) {
      ++lines;
      if (la != lb) ++differing;
    }
    EXPECT_EQ(lines, static_cast<size_t>(std::count(kConfig, kConfig + strlen(kConfig), '\n')));
    EXPECT_FALSE(std::getline(b, lb));  // same number of lines: no key moved or appeared
    EXPECT_EQ(differing, Changed(before, after).size()) << text;
    EXPECT_EQ(after["notes"], "untouched");
    EXPECT_EQ(after["optim"]["betas"], json({0.9, 0.95}));
  }
}

TEST_P(ProposerTest, DescriptionListsEachChangeAsOldArrowNew) {
  WriteConfig(kConfig);
  Proposal p = ProposeWith(7);
  json before = json::parse(kConfig);
  EXPECT_EQ(p.description, DescribeChanges(spec_.search_space, before, p.params));
  EXPECT_EQ(p.params, json::parse(ReadConfig()));
  for (const std::string& name : Changed(before, p.params)) {
    EXPECT_NE(p.description.find(name + " "), std::string::npos) << p.description;
  }
  EXPECT_EQ(p.description.find('\n'), std::string::npos);
}

TEST_P(ProposerTest, MissingConfigFileIsAnErrorNamingIt) {
  fs::remove(worktree_ / "params.json");
  try {
    ProposeWith(1);
    FAIL();
  } catch (const ProposalError&) {
    FAIL() << "a missing config is an infrastructure error, not a failed proposal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("params.json"), std::string::npos) << e.what();
  }
  WriteConfig("{\"x\": ");
  EXPECT_THROW(ProposeWith(1), Error);
}

TEST_P(ProposerTest, MissingValuesAreFilledFromTheSpace) {
  WriteConfig("{\n  \"name\": \"toy\"\n}\n");
  Proposal p = ProposeWith(3);
  EXPECT_NE(p.description.find("(unset) -> "), std::string::npos) << p.description;
  for (const std::string& name : {std::string("x"), std::string("depth")}) {
    if (const json* v = GetPath(p.params, name)) {
      EXPECT_TRUE(spec_.search_space.Contains(*spec_.search_space.Find(name), *v));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, ProposerTest, ::testing::Values("random", "local", "evolution", "tpe"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

class LocalProposerTest : public ProposerTest {};

TEST_P(LocalProposerTest, ChangesOneOrTwoParameters) {
  std::set<size_t> counts;
  for (uint64_t seed = 0; seed < 120; ++seed) {
    auto [before, after] = OneStep(seed);
    size_t n = Changed(before, after).size();
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 2u);
    counts.insert(n);
  }
  EXPECT_EQ(counts, (std::set<size_t>{1, 2}));
}

TEST_P(LocalProposerTest, StepsAreSmallInTheParametersScale) {
  int x_moves = 0, depth_moves = 0;
  double x_total = 0;
  for (uint64_t seed = 0; seed < 120; ++seed) {
    auto [before, after] = OneStep(seed);
    if (after["x"] != before["x"]) {
      ++x_moves;
      x_total += std::fabs(after["x"].get<double>() - 1.5);
    }
    if (after["depth"] != before["depth"]) {
      ++depth_moves;
      EXPECT_LE(std::abs(after["depth"].get<int>() - 4), 3);
    }
    if (after["optimizer"] != before["optimizer"]) {
      EXPECT_EQ(after["optimizer"], "muon");
    }
  }
  ASSERT_GT(x_moves, 10);
  EXPECT_GT(depth_moves, 10);
  // step 0.1 of a range of 10: a mean move near 0.8, far below random's 2.9.
  EXPECT_LT(x_total / x_moves, 1.5);
}

TEST_P(LocalProposerTest, IntAtABoundStepsInward) {
  WriteConfig("{\"depth\": 8}\n");
  SearchSpace s;
  Param d;
  d.name = "depth";
  d.type = Param::Type::kInt;
  d.min = 1;
  d.max = 8;
  s.params = {d};
  spec_.search_space = s;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    WriteConfig("{\"depth\": 8}\n");
    Proposal p = ProposeWith(seed);
    EXPECT_LT(p.params["depth"].get<int>(), 8);
    EXPECT_GE(p.params["depth"].get<int>(), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Local, LocalProposerTest, ::testing::Values("local"));

TEST(MakeProposerTest, UnknownKindIsAnError) {
  Spec spec;
  spec.path = "/specs/x.json";
  spec.proposer.kind = "genius";
  try {
    MakeProposer(spec);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "/specs/x.json: proposer.kind: unknown kind \"genius\"");
  }
}

TEST(ProposalSeedTest, IsAFixedFunctionOfSeedAndSeq) {
  EXPECT_EQ(ProposalSeed(1, 5), ProposalSeed(1, 5));
  EXPECT_NE(ProposalSeed(1, 5), ProposalSeed(1, 6));
  EXPECT_NE(ProposalSeed(1, 5), ProposalSeed(2, 5));
  EXPECT_EQ(ProposalSeed(1, 5), 0x0u + ProposalSeed(1, 5));
}

TEST(SampleValueTest, LogScaleSpreadsOverDecades) {
  Param p;
  p.type = Param::Type::kFloat;
  p.min = 1e-4;
  p.max = 1e-1;
  p.log = true;
  std::mt19937_64 rng(1);
  int below_1e3 = 0;
  for (int i = 0; i < 3000; ++i) {
    double v = SampleValue(p, rng).get<double>();
    ASSERT_GE(v, p.min);
    ASSERT_LE(v, p.max);
    if (v < 1e-3) ++below_1e3;
  }
  // One decade of three: about a third, where a linear draw would give ~1%.
  EXPECT_GT(below_1e3, 800);
  EXPECT_LT(below_1e3, 1200);
}

TEST(SampleValueTest, IntegersCoverTheWholeRange) {
  Param p;
  p.type = Param::Type::kInt;
  p.min = 8;
  p.max = 512;
  p.log = true;
  std::mt19937_64 rng(2);
  std::set<int64_t> seen;
  int64_t lo = 1000, hi = 0;
  for (int i = 0; i < 3000; ++i) {
    int64_t v = SampleValue(p, rng).get<int64_t>();
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 8);
  EXPECT_GT(hi, 450);
}

TEST(RoundSignificantTest, KeepsFourDigits) {
  EXPECT_EQ(RoundSignificant(0.0031622776), 0.003162);
  EXPECT_EQ(RoundSignificant(123456.0), 123500.0);
  EXPECT_EQ(RoundSignificant(0.0), 0.0);
}

}  // namespace
}  // namespace ratchet

namespace ratchet {
namespace {

SearchSpace TwoNumbers() {
  SearchSpace space;
  for (const char* name : {"lr", "wd"}) {
    Param p;
    p.name = name;
    p.type = Param::Type::kFloat;
    p.min = 0;
    p.max = 1;
    space.params.push_back(p);
  }
  return space;
}

TEST(MergeConfigsTest, TheirChangeLandsOnOursKeepingOursAndItsKeyOrder) {
  const json base = {{"lr", 0.1}, {"wd", 0.1}, {"note", "x"}};
  const nlohmann::ordered_json ours =
      nlohmann::ordered_json::parse(R"({"wd": 0.2, "lr": 0.1, "note": "x"})");
  const json theirs = {{"lr", 0.3}, {"wd", 0.1}, {"note", "x"}};
  std::optional<nlohmann::ordered_json> merged = MergeConfigs(TwoNumbers(), base, ours, theirs);
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->dump(), R"({"wd":0.2,"lr":0.3,"note":"x"})");
}

TEST(MergeConfigsTest, OneParameterChangedBothWaysIsAConflict) {
  const json base = {{"lr", 0.1}, {"wd", 0.1}};
  const nlohmann::ordered_json ours = nlohmann::ordered_json::parse(R"({"lr": 0.2, "wd": 0.1})");
  const json theirs = {{"lr", 0.3}, {"wd", 0.1}};
  EXPECT_FALSE(MergeConfigs(TwoNumbers(), base, ours, theirs));
  // The same change on both sides is no conflict.
  const json same = {{"lr", 0.2}, {"wd", 0.1}};
  EXPECT_TRUE(MergeConfigs(TwoNumbers(), base, ours, same));
}

}  // namespace
}  // namespace ratchet

namespace ratchet {
namespace {

TEST(LocalBesideInFlightTest, NudgesOtherParametersThanTheCandidatesBeingMeasured) {
  const fs::path worktree = fs::temp_directory_path() / ("local-pending-" + std::to_string(::getpid()));
  fs::create_directories(worktree);
  Spec spec;
  spec.proposer.kind = "local";
  spec.proposer.config = "params.json";
  spec.proposer.options = {{"kind", "local"}, {"config", "params.json"}};
  spec.search_space = TwoNumbers();
  HistoryEntry pending;
  pending.seq = 2;
  pending.status = "pending";
  pending.params = {{"lr", 0.7}, {"wd", 0.5}};  // moves lr
  std::unique_ptr<Proposer> proposer = MakeProposer(spec);
  for (uint64_t seed = 0; seed < 30; ++seed) {
    std::ofstream(worktree / "params.json") << R"({"lr": 0.5, "wd": 0.5})";
    ProposalContext ctx{spec, 3, seed, worktree, json::object(), {}, std::nullopt};
    ctx.pending = {pending};
    Proposal p = proposer->Propose(ctx);
    EXPECT_EQ(p.params["lr"], 0.5) << "seed " << seed << ": " << p.description;
    EXPECT_NE(p.params["wd"], 0.5) << "seed " << seed;
  }
  fs::remove_all(worktree);
}

}  // namespace
}  // namespace ratchet

#include "ratchet/spec/search_space.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace ratchet {
namespace {

using nlohmann::json;

Param Float(std::string name, double min, double max) {
  Param p;
  p.name = std::move(name);
  p.type = Param::Type::kFloat;
  p.min = min;
  p.max = max;
  return p;
}

Param Choice(std::string name, std::vector<json> values) {
  Param p;
  p.name = std::move(name);
  p.type = Param::Type::kChoice;
  p.values = std::move(values);
  return p;
}

// optimizer ∈ {adamw, muon}; muon_momentum only with muon; nesterov only
// when muon_momentum is active and optimizer is muon (a chain).
SearchSpace OptimizerSpace() {
  SearchSpace s;
  Param nesterov;
  nesterov.name = "optim.nesterov";
  nesterov.type = Param::Type::kBool;
  nesterov.when["optim.momentum"] = {0.9, 0.95};
  s.params.push_back(nesterov);  // listed before what it depends on
  Param momentum = Float("optim.momentum", 0.8, 0.99);
  momentum.when["optimizer"] = {"muon"};
  s.params.push_back(momentum);
  s.params.push_back(Choice("optimizer", {"adamw", "muon"}));
  return s;
}

TEST(SearchSpaceTest, UnconditionalParamsAreAlwaysActive) {
  SearchSpace s = OptimizerSpace();
  EXPECT_TRUE(s.IsActive(*s.Find("optimizer"), json::object()));
}

TEST(SearchSpaceTest, ConditionHoldsOnlyForListedValues) {
  SearchSpace s = OptimizerSpace();
  const Param& m = *s.Find("optim.momentum");
  EXPECT_TRUE(s.IsActive(m, {{"optimizer", "muon"}}));
  EXPECT_FALSE(s.IsActive(m, {{"optimizer", "adamw"}}));
  EXPECT_FALSE(s.IsActive(m, json::object()));  // missing controlling value
}

TEST(SearchSpaceTest, ParamIsInactiveWhenItsControllerIsInactive) {
  SearchSpace s = OptimizerSpace();
  const Param& n = *s.Find("optim.nesterov");
  json config = {{"optimizer", "muon"}, {"optim", {{"momentum", 0.9}}}};
  EXPECT_TRUE(s.IsActive(n, config));
  config["optimizer"] = "adamw";  // momentum inactive, so nesterov too, whatever its value
  EXPECT_FALSE(s.IsActive(n, config));
  config["optimizer"] = "muon";
  config["optim"]["momentum"] = 0.85;
  EXPECT_FALSE(s.IsActive(n, config));
}

TEST(SearchSpaceTest, ContainsChecksRangeIntegralityValuesAndType) {
  SearchSpace s;
  Param f = Float("f", -1, 1);
  EXPECT_TRUE(s.Contains(f, -1));
  EXPECT_TRUE(s.Contains(f, 0.5));
  EXPECT_FALSE(s.Contains(f, 1.01));
  EXPECT_FALSE(s.Contains(f, "0.5"));
  Param i = Float("i", 1, 8);
  i.type = Param::Type::kInt;
  EXPECT_TRUE(s.Contains(i, 8));
  EXPECT_TRUE(s.Contains(i, 3.0));
  EXPECT_FALSE(s.Contains(i, 3.5));
  EXPECT_FALSE(s.Contains(i, 0));
  Param c = Choice("c", {"gelu", 2});
  EXPECT_TRUE(s.Contains(c, "gelu"));
  EXPECT_TRUE(s.Contains(c, 2));
  EXPECT_FALSE(s.Contains(c, "relu"));
  Param b;
  b.type = Param::Type::kBool;
  EXPECT_TRUE(s.Contains(b, false));
  EXPECT_FALSE(s.Contains(b, 0));
}

TEST(SearchSpaceTest, AssignmentOrderPutsControllersFirst) {
  SearchSpace s = OptimizerSpace();
  std::vector<std::string> names;
  for (const Param* p : s.AssignmentOrder()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"optimizer", "optim.momentum", "optim.nesterov"}));
}

TEST(SearchSpaceTest, ValidateFindsBadConditions) {
  SearchSpace s = OptimizerSpace();
  EXPECT_EQ(s.Validate(), "");
  s.params[1].when["optimizer"] = {"sgd"};
  EXPECT_EQ(s.Validate(), "optim.momentum.when.optimizer: \"sgd\" is not a value of optimizer");
  s = OptimizerSpace();
  s.params[2].when["optim.nesterov"] = {true};
  EXPECT_EQ(s.Validate(), "optimizer.when: conditions form a cycle through optim.nesterov");
}

TEST(SearchSpaceTest, GetPathFollowsDots) {
  json config = {{"optim", {{"lr", 0.01}, {"betas", {0.9, 0.95}}}}, {"depth", 4}};
  ASSERT_NE(GetPath(config, "optim.lr"), nullptr);
  EXPECT_EQ(*GetPath(config, "optim.lr"), 0.01);
  EXPECT_EQ(*GetPath(config, "depth"), 4);
  EXPECT_EQ(GetPath(config, "optim.wd"), nullptr);
  EXPECT_EQ(GetPath(config, "depth.x"), nullptr);  // a number is in the way
  EXPECT_EQ(GetPath(config, "nope.lr"), nullptr);
}

TEST(SearchSpaceTest, SetPathCreatesObjectsAndKeepsKeyOrder) {
  nlohmann::ordered_json config =
      nlohmann::ordered_json::parse(R"({"z": 1, "optim": {"lr": 1, "wd": 2}, "a": 3})");
  SetPath(config, "optim.lr", nlohmann::ordered_json(0.5));
  SetPath(config, "sched.warmup", nlohmann::ordered_json(10));
  EXPECT_EQ(config.dump(), R"({"z":1,"optim":{"lr":0.5,"wd":2},"a":3,"sched":{"warmup":10}})");
  EXPECT_THROW(SetPath(config, "z.y", nlohmann::ordered_json(1)), Error);
  json plain;
  SetPath(plain, "a.b", json(1));
  EXPECT_EQ(plain, json({{"a", {{"b", 1}}}}));
}

}  // namespace
}  // namespace ratchet

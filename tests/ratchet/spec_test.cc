#include "ratchet/spec/spec.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <regex>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

// A temp folder holding specs/ and a template experiments/toy/params.json,
// laid out like the repository so "../experiments/toy" resolves.
class SpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "spec_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "specs");
    fs::create_directories(root_ / "experiments/toy");
    std::ofstream(root_ / "experiments/toy/params.json") << "{\"x\": 0}\n";
    origin_ = root_ / "specs/x.json";
  }
  void TearDown() override { fs::remove_all(root_); }

  // A small valid spec; tests break one thing at a time.
  static OJson Valid() {
    return OJson::parse(R"({
      "name": "toy",
      "template": "../experiments/toy",
      "mutable": ["params.json"],
      "budget": {"kind": "time", "seconds": 1},
      "train": {"argv": ["{bin_dir}/toy", "train", "{workspace}/params.json", "--seed", "{seed}"]},
      "evaluate": {"argv": ["{bin_dir}/toy", "eval", "{run_dir}/result.json"]},
      "metric": {"name": "score"},
      "proposer": {"kind": "local", "config": "params.json"},
      "search_space": {"x": {"type": "float", "min": -5, "max": 5}}
    })");
  }

  Spec Parse(const OJson& j) { return ParseSpec(j.dump(2), origin_); }

  // The error for `text`, without the leading "<file>" (asserted present).
  std::string ErrorOfText(const std::string& text) {
    try {
      ParseSpec(text, origin_);
    } catch (const Error& e) {
      std::string msg = e.what();
      std::string prefix = origin_.string();
      EXPECT_EQ(msg.substr(0, prefix.size()), prefix) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
      return msg.substr(prefix.size());
    }
    ADD_FAILURE() << "no error for: " << text;
    return "";
  }
  std::string ErrorOf(const OJson& j) {
    std::string e = ErrorOfText(j.dump(2));
    return e.rfind(": ", 0) == 0 ? e.substr(2) : e;
  }

  fs::path root_, origin_;
};

TEST_F(SpecTest, ValidSpecLoadsWithDocumentedDefaults) {
  Spec s = Parse(Valid());
  EXPECT_EQ(s.name, "toy");
  EXPECT_EQ(s.template_dir, (root_ / "experiments/toy").lexically_normal());
  EXPECT_TRUE(s.template_dir.is_absolute());
  EXPECT_EQ(s.dir, (root_ / "specs").lexically_normal());
  EXPECT_EQ(s.mutable_globs, std::vector<std::string>{"params.json"});
  EXPECT_EQ(s.budget.kind, Budget::Kind::kTime);
  EXPECT_EQ(s.budget.Amount(), 1.0);
  EXPECT_EQ(s.budget.KindName(), "time");
  EXPECT_EQ(s.train.timeout_factor, 2.0);
  EXPECT_EQ(s.train.grace_seconds, 30.0);
  EXPECT_EQ(s.train.invalid_exit_code, 0);  // no exit status means "invalid"
  EXPECT_EQ(s.evaluate.timeout_seconds, 600.0);
  EXPECT_EQ(s.metric.goal, MetricSpec::Goal::kMinimize);
  EXPECT_EQ(s.metric.format, MetricSpec::Format::kJson);
  EXPECT_EQ(s.acceptance.policy, AcceptanceSpec::Policy::kConfirm);
  EXPECT_EQ(s.acceptance.calibration, 3);
  EXPECT_EQ(s.acceptance.repeats, 2);
  EXPECT_FALSE(s.acceptance.max_improvement.has_value());
  EXPECT_EQ(s.proposer.kind, "local");
  EXPECT_EQ(s.proposer.seed, 1u);
  EXPECT_EQ(s.proposer.plateau, 10);
  EXPECT_EQ(s.proposer.options["config"], "params.json");
  EXPECT_GE(s.limits.threads, 1);
  EXPECT_EQ(s.limits.log_bytes, 4u << 20);
  EXPECT_FALSE(s.data.has_value());
  ASSERT_EQ(s.search_space.params.size(), 1u);
  EXPECT_EQ(s.text, Valid().dump(2));
  EXPECT_DOUBLE_EQ(TrainDeadlineSeconds(s), 1 * 2.0 + 30);
}

TEST_F(SpecTest, TheExampleInDocsSpecMdLoads) {
  std::string doc = ReadFile(fs::path(RATCHET_SOURCE_DIR) / "docs/spec.md");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(doc, m, std::regex("```json\n([\\s\\S]*?)```")));
  Spec s = ParseSpec(m[1].str(), origin_);
  EXPECT_EQ(s.name, "toy");
  ASSERT_TRUE(s.data.has_value());
  EXPECT_EQ(s.data->heldout.size(), 2u);
  EXPECT_EQ(s.search_space.params.size(), 5u);
  EXPECT_TRUE(s.search_space.params[1].log);
  EXPECT_EQ(s.limits.threads, 2);
}

TEST_F(SpecTest, EveryShippedSpecLoads) {
  fs::path dir = fs::path(RATCHET_SOURCE_DIR) / "specs";
  if (!fs::exists(dir)) GTEST_SKIP() << "no specs/ folder";
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_NO_THROW(LoadSpec(entry.path())) << entry.path();
  }
}

TEST_F(SpecTest, LoadSpecReadsTheFileAndNamesAMissingOne) {
  std::ofstream(origin_) << Valid().dump();
  EXPECT_EQ(LoadSpec(origin_).name, "toy");
  EXPECT_THROW(LoadSpec(root_ / "specs/none.json"), Error);
}

TEST_F(SpecTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_EQ(ErrorOfText("{\n  \"name\": \"toy\",\n  \"budget\": }\n"),
            ":3:13: syntax error: unexpected '}'; expected '[', '{', or a literal");
}

TEST_F(SpecTest, TrailingCommaIsASyntaxErrorAtTheBrace) {
  EXPECT_EQ(ErrorOfText("{\"a\": 1,\n}"),
            ":2:1: syntax error: unexpected '}'; expected string literal");
}

TEST_F(SpecTest, EmptyFileIsASyntaxError) {
  EXPECT_EQ(ErrorOfText(""),
            ":1:1: syntax error: unexpected end of input; expected '[', '{', or a literal");
}

TEST_F(SpecTest, TopLevelMustBeAnObject) {
  EXPECT_EQ(ErrorOfText("[1]"), ": expected an object, got [1]");
}

TEST_F(SpecTest, DuplicateKeyIsAnErrorNamingItsPath) {
  EXPECT_EQ(ErrorOfText(R"({"name": "a", "search_space": {"x": {}, "x": {}}})"),
            ": search_space.x: duplicate key");
  EXPECT_EQ(ErrorOfText(R"({"train": {"argv": [{"a": 1, "a": 2}]}})"),
            ": train.argv[0].a: duplicate key");
}

TEST_F(SpecTest, UnknownKeysAreErrorsNamingTheirPath) {
  OJson j = Valid();
  j["colour"] = "red";
  EXPECT_EQ(ErrorOf(j),
            "colour: unknown key (expected one of name, description, template, mutable, immutable, "
            "budget, data, train, evaluate, metric, acceptance, proposer, search_space, limits, "
            "sandbox, parallel, backend)");
  j = Valid();
  j["acceptance"] = {{"calibraton", 3}};
  EXPECT_EQ(ErrorOf(j),
            "acceptance.calibraton: unknown key (expected one of policy, calibration, repeats, "
            "min_delta, max_improvement, alpha, extend_above)");
  j = Valid();
  j["search_space"]["x"]["values"] = {1, 2};
  EXPECT_EQ(ErrorOf(j),
            "search_space.x.values: unknown key (expected one of type, when, min, max, log)");
  j = Valid();
  j["evaluate"]["grace_seconds"] = 3;
  EXPECT_EQ(ErrorOf(j),
            "evaluate.grace_seconds: unknown key (expected one of argv, timeout_seconds)");
  j = Valid();
  j["proposer"]["model"] = "gpt";
  EXPECT_EQ(ErrorOf(j),
            "proposer.model: unknown key (expected one of kind, config, seed, plateau, step)");
}

TEST_F(SpecTest, WrongTypesAreErrorsShowingTheValue) {
  OJson j = Valid();
  j["acceptance"] = {{"calibration", "three"}};
  EXPECT_EQ(ErrorOf(j), "acceptance.calibration: expected an integer, got \"three\"");
  j = Valid();
  j["name"] = 7;
  EXPECT_EQ(ErrorOf(j), "name: expected a string, got 7");
  j = Valid();
  j["train"]["timeout_factor"] = "2";
  EXPECT_EQ(ErrorOf(j), "train.timeout_factor: expected a number, got \"2\"");
  j = Valid();
  j["mutable"] = "params.json";
  EXPECT_EQ(ErrorOf(j), "mutable: expected an array of strings, got \"params.json\"");
  j = Valid();
  j["train"]["argv"][2] = 3;
  EXPECT_EQ(ErrorOf(j), "train.argv[2]: expected a string, got 3");
  j = Valid();
  j["search_space"]["x"]["log"] = "yes";
  EXPECT_EQ(ErrorOf(j), "search_space.x.log: expected true or false, got \"yes\"");
  j = Valid();
  j["metric"] = "score";
  EXPECT_EQ(ErrorOf(j), "metric: expected an object, got \"score\"");
  j = Valid();
  j["acceptance"] = {{"repeats", 1.5}};
  EXPECT_EQ(ErrorOf(j), "acceptance.repeats: expected an integer, got 1.5");
  j = Valid();
  j["description"] = OJson::array();
  EXPECT_EQ(ErrorOf(j), "description: expected a string, got []");
}

TEST_F(SpecTest, LongValuesAreShortenedInMessages) {
  OJson j = Valid();
  j["name"] = std::vector<int>(50, 1);
  std::string e = ErrorOf(j);
  EXPECT_LT(e.size(), 80u) << e;
  EXPECT_NE(e.find("..."), std::string::npos) << e;
}

TEST_F(SpecTest, MissingRequiredKeysAreNamed) {
  for (const char* key : {"name", "template", "mutable", "budget", "train", "evaluate", "metric"}) {
    OJson j = Valid();
    j.erase(key);
    EXPECT_EQ(ErrorOf(j), std::string(key) + ": required key is missing");
  }
  OJson j = Valid();
  j["metric"].erase("name");
  EXPECT_EQ(ErrorOf(j), "metric.name: required key is missing");
  j = Valid();
  j["train"].erase("argv");
  EXPECT_EQ(ErrorOf(j), "train.argv: required key is missing");
  j = Valid();
  j["budget"].erase("kind");
  EXPECT_EQ(ErrorOf(j), "budget.kind: required key is missing");
  j = Valid();
  j["budget"].erase("seconds");
  EXPECT_EQ(ErrorOf(j), "budget.seconds: required key is missing");
  j = Valid();
  j["search_space"]["x"].erase("max");
  EXPECT_EQ(ErrorOf(j), "search_space.x.max: required key is missing");
  j = Valid();
  j["search_space"]["x"].erase("type");
  EXPECT_EQ(ErrorOf(j), "search_space.x.type: required key is missing");
  j = Valid();
  j["name"] = nullptr;  // null counts as absent
  EXPECT_EQ(ErrorOf(j), "name: required key is missing");
}

TEST_F(SpecTest, NameMustBeUsableInGitRefs) {
  OJson j = Valid();
  j["name"] = "my toy";
  EXPECT_EQ(ErrorOf(j),
            "name: must be letters, digits, '.', '_' or '-' (it names git refs), got \"my toy\"");
  j["name"] = "a..b";
  EXPECT_NE(ErrorOf(j).find("name: must be"), std::string::npos);
  j["name"] = "tiny-gpt_2.time";
  EXPECT_EQ(Parse(j).name, "tiny-gpt_2.time");
}

TEST_F(SpecTest, TemplateFolderMustExist) {
  OJson j = Valid();
  j["template"] = "../experiments/nope";
  EXPECT_EQ(ErrorOf(j), "template: folder does not exist: " +
                            (root_ / "experiments/nope").lexically_normal().string());
  j["template"] = "../experiments/toy/params.json";
  EXPECT_EQ(ErrorOf(j), "template: not a folder: " +
                            (root_ / "experiments/toy/params.json").lexically_normal().string());
}

TEST_F(SpecTest, MutableGlobsStayInsideTheWorkspace) {
  OJson j = Valid();
  j["mutable"] = OJson::array();
  EXPECT_EQ(ErrorOf(j), "mutable: must list at least one glob");
  j["mutable"] = {"ok.json", "../x"};
  EXPECT_EQ(ErrorOf(j), "mutable[1]: must not contain '..', got \"../x\"");
  j["mutable"] = {"/etc/passwd"};
  EXPECT_EQ(ErrorOf(j), "mutable[0]: must be a relative path, got \"/etc/passwd\"");
  j["mutable"] = {""};
  EXPECT_EQ(ErrorOf(j), "mutable[0]: must not be empty");
}

TEST_F(SpecTest, BudgetKindsAndAmounts) {
  OJson j = Valid();
  j["budget"] = {{"kind", "steps"}, {"seconds", 1}};
  EXPECT_EQ(ErrorOf(j), "budget.kind: expected one of time, tokens, got \"steps\"");
  j["budget"] = {{"kind", "time"}, {"seconds", 0}};
  EXPECT_EQ(ErrorOf(j), "budget.seconds: must be > 0, got 0");
  j["budget"] = {{"kind", "time"}, {"seconds", 5}, {"tokens", 100}};
  EXPECT_EQ(ErrorOf(j), "budget.tokens: not used by budget kind time");
  j["budget"] = {{"kind", "tokens"}, {"tokens", 0}};
  EXPECT_EQ(ErrorOf(j), "budget.tokens: must be at least 1, got 0");
  j["budget"] = {{"kind", "tokens"}, {"tokens", 1000}, {"seconds", 1}};
  EXPECT_EQ(ErrorOf(j), "budget.seconds: not used by budget kind tokens");
}

TEST_F(SpecTest, BudgetAmountTextIsPlainForPlaceholders) {
  Budget b;
  b.seconds = 300;
  EXPECT_EQ(b.AmountText(), "300");
  b.seconds = 0.5;
  EXPECT_EQ(b.AmountText(), "0.5");
  b.kind = Budget::Kind::kTokens;
  b.tokens = 1000000000;
  EXPECT_EQ(b.AmountText(), "1000000000");
}

TEST_F(SpecTest, TokenBudgetNeedsAFixedTrainTimeout) {
  OJson j = Valid();
  j["budget"] = {{"kind", "tokens"}, {"tokens", 1e9}};  // written as a float: still an integer
  EXPECT_EQ(
      ErrorOf(j),
      "train.timeout_seconds: required with a tokens budget (the deadline cannot scale with it)");
  j["train"]["timeout_seconds"] = 900;
  Spec s = Parse(j);
  EXPECT_EQ(s.budget.tokens, 1000000000);
  EXPECT_EQ(s.budget.KindName(), "tokens");
  EXPECT_EQ(s.budget.Amount(), 1e9);
  EXPECT_EQ(TrainDeadlineSeconds(s), 900);
}

TEST_F(SpecTest, TrainInvalidExitCodeIsAnExitStatus) {
  OJson j = Valid();
  j["train"]["invalid_exit_code"] = 3;
  EXPECT_EQ(Parse(j).train.invalid_exit_code, 3);
  j["train"]["invalid_exit_code"] = 0;
  EXPECT_EQ(ErrorOf(j), "train.invalid_exit_code: must be at least 1, got 0");
  j["train"]["invalid_exit_code"] = 256;
  EXPECT_EQ(ErrorOf(j), "train.invalid_exit_code: an exit status is at most 255");
}

TEST_F(SpecTest, TrainDeadlineIsBudgetTimesFactorPlusGrace) {
  OJson j = Valid();
  j["budget"]["seconds"] = 300;
  j["train"]["timeout_factor"] = 1.5;
  j["train"]["grace_seconds"] = 10;
  EXPECT_EQ(TrainDeadlineSeconds(Parse(j)), 460);
  j["train"]["timeout_seconds"] = 20;
  EXPECT_EQ(TrainDeadlineSeconds(Parse(j)), 20);
  j["train"]["grace_seconds"] = -1;
  EXPECT_EQ(ErrorOf(j), "train.grace_seconds: must be >= 0, got -1");
  j["train"]["grace_seconds"] = 1;
  j["train"]["timeout_factor"] = 0;
  EXPECT_EQ(ErrorOf(j), "train.timeout_factor: must be > 0, got 0");
  j = Valid();
  j["evaluate"]["timeout_seconds"] = -5;
  EXPECT_EQ(ErrorOf(j), "evaluate.timeout_seconds: must be > 0, got -5");
}

TEST_F(SpecTest, EmptyArgvIsAnError) {
  OJson j = Valid();
  j["train"]["argv"] = OJson::array();
  EXPECT_EQ(ErrorOf(j), "train.argv: must not be empty");
  j = Valid();
  j["evaluate"]["argv"] = {""};
  EXPECT_EQ(ErrorOf(j), "evaluate.argv[0]: the program must not be empty");
}

TEST_F(SpecTest, UnknownPlaceholderInArgvIsAnError) {
  OJson j = Valid();
  j["train"]["argv"][2] = "{wrkspace}/params.json";
  EXPECT_EQ(
      ErrorOf(j),
      "train.argv[2]: unknown placeholder {wrkspace} (known: workspace, run_dir, seed, budget, "
      "budget_kind, threads, spec_dir, bin_dir, cache_dir, train_data, data_dir)");
  j = Valid();
  j["evaluate"]["argv"][1] = "--json={\"a\":1}";
  EXPECT_EQ(
      ErrorOf(j),
      "evaluate.argv[1]: malformed placeholder {\"a\":1} in argument \"--json={\"a\":1}\" (names "
      "are lower-case letters, digits and _; write {{ for a literal brace)");
  j["evaluate"]["argv"][1] = "--json={{\"a\":1}}";
  EXPECT_NO_THROW(Parse(j));
}

TEST_F(SpecTest, DataDirInTrainArgvIsRefused) {
  OJson j = Valid();
  j["data"] = {{"dir", "{cache_dir}/kjv"}, {"train", {"train.bin"}}, {"heldout", {"val.bin"}}};
  j["train"]["argv"].push_back("--data={data_dir}/train.bin");
  EXPECT_EQ(ErrorOf(j),
            "train.argv[5]: {data_dir} is for the evaluate command only: the train command must "
            "never see held-out data (use {train_data})");
  j["train"]["argv"][5] = "--data={train_data}";
  j["evaluate"]["argv"].push_back("{data_dir}");
  Spec s = Parse(j);
  ASSERT_TRUE(s.data.has_value());
  EXPECT_EQ(s.data->dir, "{cache_dir}/kjv");
  EXPECT_EQ(s.data->train, std::vector<std::string>{"train.bin"});
  EXPECT_TRUE(s.data->prepare.empty());
}

TEST_F(SpecTest, DataPlaceholdersNeedADataSection) {
  OJson j = Valid();
  j["evaluate"]["argv"].push_back("{data_dir}");
  EXPECT_EQ(ErrorOf(j), "evaluate.argv[3]: {data_dir} needs a \"data\" section");
  j = Valid();
  j["train"]["argv"].push_back("{train_data}");
  EXPECT_EQ(ErrorOf(j), "train.argv[5]: {train_data} needs a \"data\" section");
}

TEST_F(SpecTest, DataSectionIsChecked) {
  OJson j = Valid();
  j["data"] = {{"train", {"a"}}};
  EXPECT_EQ(ErrorOf(j), "data.dir: required key is missing");
  j["data"] = {{"dir", "{seed}"}};
  EXPECT_EQ(ErrorOf(j), "data.dir: {seed} is not available here");
  j["data"] = {{"dir", "d"}, {"train", {"a.bin"}}, {"heldout", {"a.bin"}}};
  EXPECT_EQ(ErrorOf(j), "data.train: \"a.bin\" is also a held-out file");
  j["data"] = {{"dir", "d"}, {"heldout", {"../secret"}}};
  EXPECT_EQ(ErrorOf(j), "data.heldout[0]: must not contain '..', got \"../secret\"");
  j["data"] = {{"dir", "d"}, {"prepare", {"prep", "{workspace}"}}};
  EXPECT_EQ(ErrorOf(j), "data.prepare[1]: {workspace} is not available here");
  j["data"] = {{"dir", "d"}, {"prepare", {"{bin_dir}/prep", "--out", "{data_dir}"}}};
  EXPECT_EQ(Parse(j).data->prepare.size(), 3u);
}

TEST_F(SpecTest, ImmutableEntriesMayNameOnlyFixedFolders) {
  OJson j = Valid();
  j["immutable"] = {"{bin_dir}/toy", "{workspace}/x"};
  EXPECT_EQ(ErrorOf(j), "immutable[1]: {workspace} is not available here");
  j["immutable"] = {"{bin_dir}/toy", "{spec_dir}/../harness/eval.py"};
  EXPECT_EQ(Parse(j).immutable[1], "{spec_dir}/../harness/eval.py");  // kept unsubstituted
}

TEST_F(SpecTest, MetricGoalAndFormat) {
  OJson j = Valid();
  j["metric"]["goal"] = "smallest";
  EXPECT_EQ(ErrorOf(j), "metric.goal: expected one of minimize, maximize, got \"smallest\"");
  j["metric"]["goal"] = "maximize";
  j["metric"]["format"] = "yaml";
  EXPECT_EQ(ErrorOf(j), "metric.format: expected one of json, kv, got \"yaml\"");
  j["metric"]["format"] = "kv";
  j["metric"]["name"] = "";
  EXPECT_EQ(ErrorOf(j), "metric.name: must not be empty");
  j["metric"]["name"] = "acc";
  Spec s = Parse(j);
  EXPECT_EQ(s.metric.goal, MetricSpec::Goal::kMaximize);
  EXPECT_EQ(s.metric.format, MetricSpec::Format::kKeyValue);
}

TEST_F(SpecTest, BetterFollowsTheGoalAndIsStrict) {
  MetricSpec m;
  m.goal = MetricSpec::Goal::kMinimize;
  EXPECT_TRUE(m.Better(1.0, 2.0));
  EXPECT_FALSE(m.Better(2.0, 1.0));
  EXPECT_FALSE(m.Better(1.0, 1.0));
  EXPECT_FALSE(m.Better(std::nan(""), 1.0));
  m.goal = MetricSpec::Goal::kMaximize;
  EXPECT_TRUE(m.Better(2.0, 1.0));
  EXPECT_FALSE(m.Better(1.0, 1.0));
  EXPECT_FALSE(m.Better(1.0, std::nan("")));
}

TEST_F(SpecTest, AcceptanceValues) {
  OJson j = Valid();
  j["acceptance"] = {{"policy", "lenient"}};
  EXPECT_EQ(ErrorOf(j),
            "acceptance.policy: expected one of strict, threshold, confirm, got \"lenient\"");
  j["acceptance"] = {{"calibration", 1}};
  EXPECT_EQ(ErrorOf(j),
            "acceptance.calibration: must be at least 2 for policy confirm (the noise is a "
            "spread), got 1");
  j["acceptance"] = {{"repeats", -1}};
  EXPECT_EQ(ErrorOf(j), "acceptance.repeats: must be at least 0, got -1");
  j["acceptance"] = {{"min_delta", -0.1}};
  EXPECT_EQ(ErrorOf(j), "acceptance.min_delta: must be >= 0, got -0.1");
  j["acceptance"] = {{"alpha", 0.5}};
  EXPECT_EQ(ErrorOf(j), "acceptance.alpha: must be below 0.5, got 0.5");
  j["acceptance"] = {{"max_improvement", 0}};
  EXPECT_EQ(ErrorOf(j), "acceptance.max_improvement: must be > 0, got 0");
  j["acceptance"] = {{"extend_above", 1}};
  EXPECT_EQ(ErrorOf(j),
            "acceptance.extend_above: must be below 1 (a fraction of the critical t), got 1");
  j["acceptance"] = {{"extend_above", -0.5}};
  EXPECT_EQ(ErrorOf(j), "acceptance.extend_above: must be >= 0, got -0.5");
  EXPECT_EQ(Parse(Valid()).acceptance.extend_above, 0.5);
  j["acceptance"] = {{"policy", "threshold"}, {"calibration", 0},       {"min_delta", 0.01},
                     {"max_improvement", 0.5}, {"extend_above", 0.0}};
  Spec s = Parse(j);
  EXPECT_EQ(s.acceptance.policy, AcceptanceSpec::Policy::kThreshold);
  EXPECT_EQ(s.acceptance.calibration, 0);
  EXPECT_EQ(s.acceptance.min_delta, 0.01);
  EXPECT_EQ(s.acceptance.max_improvement, 0.5);
  EXPECT_EQ(s.acceptance.extend_above, 0.0);
}

TEST_F(SpecTest, ProposerIsChecked) {
  OJson j = Valid();
  j["proposer"]["kind"] = "genius";
  EXPECT_EQ(ErrorOf(j),
            "proposer.kind: expected one of random, local, evolution, tpe, additive, command, "
            "openai, got \"genius\"");
  j = Valid();
  j["proposer"].erase("config");
  EXPECT_EQ(ErrorOf(j), "proposer.config: required for proposer kind local");
  j = Valid();
  j.erase("proposer");  // the default kind is local, which needs a config
  EXPECT_EQ(ErrorOf(j), "proposer.config: required for proposer kind local");
  j = Valid();
  j["proposer"]["config"] = "missing.json";
  EXPECT_EQ(ErrorOf(j), "proposer.config: \"missing.json\" is not a file in the template " +
                            (root_ / "experiments/toy").lexically_normal().string());
  j["proposer"]["config"] = "../params.json";
  EXPECT_EQ(ErrorOf(j), "proposer.config: must not contain '..', got \"../params.json\"");
  j = Valid();
  j["proposer"]["step"] = 2;
  EXPECT_EQ(ErrorOf(j), "proposer.step: must be at most 1 (a fraction of the range), got 2");
  j = Valid();
  j["proposer"] = {{"kind", "random"}, {"config", "params.json"}, {"step", 0.1}};
  EXPECT_EQ(ErrorOf(j), "proposer.step: unknown key (expected one of kind, config, seed, plateau)");
  j = Valid();
  j["proposer"]["plateau"] = 0;
  EXPECT_EQ(ErrorOf(j), "proposer.plateau: must be at least 1, got 0");
  j = Valid();
  j["proposer"]["seed"] = -3;
  EXPECT_EQ(ErrorOf(j), "proposer.seed: must be at least 0, got -3");
  j = Valid();
  j.erase("search_space");
  EXPECT_EQ(ErrorOf(j), "search_space: proposer kind local needs at least one parameter");
  j = Valid();
  j["proposer"]["seed"] = 42;
  j["proposer"]["step"] = 0.25;
  Spec s = Parse(j);
  EXPECT_EQ(s.proposer.seed, 42u);
  EXPECT_EQ(s.proposer.options["step"], 0.25);
  EXPECT_TRUE(IsKnownProposerKind("random"));
  EXPECT_TRUE(IsSearchProposerKind("local"));
  EXPECT_FALSE(IsKnownProposerKind("genius"));
}

TEST_F(SpecTest, SearchSpaceRangesAndTypes) {
  OJson j = Valid();
  j["search_space"]["x"] = {{"type", "float"}, {"min", 5}, {"max", 1}};
  EXPECT_EQ(ErrorOf(j), "search_space.x: min (5) must be below max (1)");
  j["search_space"]["x"] = {{"type", "float"}, {"min", 1}, {"max", 1}};
  EXPECT_EQ(ErrorOf(j), "search_space.x: min (1) must be below max (1)");
  j["search_space"]["x"] = {{"type", "float"}, {"min", 0}, {"max", 1}, {"log", true}};
  EXPECT_EQ(ErrorOf(j), "search_space.x.min: must be > 0 on a log scale, got 0");
  j["search_space"]["x"] = {{"type", "int"}, {"min", 1.5}, {"max", 4}};
  EXPECT_EQ(ErrorOf(j), "search_space.x.min: expected an integer, got 1.5");
  j["search_space"]["x"] = {{"type", "complex"}};
  EXPECT_EQ(ErrorOf(j),
            "search_space.x.type: expected one of float, int, choice, bool, got \"complex\"");
  j["search_space"]["x"] = {{"type", "choice"}, {"values", OJson::array()}};
  EXPECT_EQ(ErrorOf(j), "search_space.x.values: expected a non-empty array, got []");
  j["search_space"]["x"] = {{"type", "choice"}, {"values", {"a", "b", "a"}}};
  EXPECT_EQ(ErrorOf(j), "search_space.x.values[2]: duplicate value \"a\"");
  j["search_space"]["x"] = {{"type", "bool"}, {"min", 0}};
  EXPECT_EQ(ErrorOf(j), "search_space.x.min: unknown key (expected one of type, when)");
  j["search_space"] = {{"optim..lr", {{"type", "bool"}}}};
  EXPECT_EQ(ErrorOf(j),
            "search_space.optim..lr: a parameter name is a dotted path such as \"optim.lr\"");
  j["search_space"] = {{"x", 3}};
  EXPECT_EQ(ErrorOf(j), "search_space.x: expected an object, got 3");
}

TEST_F(SpecTest, SearchSpaceParsesEveryTypeInOrder) {
  OJson j = Valid();
  j["search_space"] = OJson::parse(R"({
    "optim.lr": {"type": "float", "min": 1e-4, "max": 0.1, "log": true},
    "depth": {"type": "int", "min": 1, "max": 8},
    "act": {"type": "choice", "values": ["gelu", "relu2", 3]},
    "tied": {"type": "bool"},
    "momentum": {"type": "float", "min": 0.8, "max": 0.99, "when": {"act": "relu2", "tied": [true]}}
  })");
  Spec s = Parse(j);
  const auto& p = s.search_space.params;
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].name, "optim.lr");
  EXPECT_TRUE(p[0].log);
  EXPECT_EQ(p[1].type, Param::Type::kInt);
  EXPECT_EQ(p[1].max, 8);
  EXPECT_EQ(p[2].values[2], 3);
  EXPECT_EQ(p[3].type, Param::Type::kBool);
  ASSERT_EQ(p[4].when.size(), 2u);
  EXPECT_EQ(p[4].when.at("act"), std::vector<nlohmann::json>{"relu2"});  // scalar shorthand
  EXPECT_EQ(p[4].when.at("tied"), std::vector<nlohmann::json>{true});
}

TEST_F(SpecTest, ConditionsMustNameLegalValuesOfOtherParameters) {
  OJson j = Valid();
  j["search_space"]["act"] = {{"type", "choice"}, {"values", {"gelu", "swiglu"}}};
  j["search_space"]["m"] = {
      {"type", "float"}, {"min", 0}, {"max", 1}, {"when", {{"optimizer", {"muon"}}}}};
  EXPECT_EQ(ErrorOf(j), "search_space.m.when.optimizer: not a parameter of the search space");
  j["search_space"]["m"]["when"] = {{"act", {"relu"}}};
  EXPECT_EQ(ErrorOf(j), "search_space.m.when.act: \"relu\" is not a value of act");
  j["search_space"]["m"]["when"] = {{"act", OJson::array()}};
  EXPECT_EQ(ErrorOf(j), "search_space.m.when.act: lists no value");
  j["search_space"]["m"]["when"] = {{"m", {0.5}}};
  EXPECT_EQ(ErrorOf(j), "search_space.m.when.m: a parameter cannot depend on itself");
  j["search_space"]["m"]["when"] = {{"act", {"gelu"}}};
  j["search_space"]["act"]["when"] = {{"m", {0.5}}};
  EXPECT_EQ(ErrorOf(j), "search_space.m.when: conditions form a cycle through act");
  j["search_space"]["m"]["when"] = 3;
  EXPECT_EQ(ErrorOf(j), "search_space.m.when: expected an object of parameter: [values], got 3");
}

TEST_F(SpecTest, ParallelAndBackendAreChecked) {
  OJson j = Valid();
  Spec plain = Parse(j);
  EXPECT_EQ(plain.parallel, 1);
  EXPECT_EQ(plain.backend.kind, BackendSpec::Kind::kLocal);
  j["parallel"] = 0;
  EXPECT_EQ(ErrorOf(j), "parallel: must be at least 1, got 0");
  j["parallel"] = 2;
  j["backend"] = {{"kind", "pbs"}};
  EXPECT_EQ(ErrorOf(j), "backend.kind: expected one of local, slurm, got \"pbs\"");
  j["backend"] = {{"kind", "slurm"}, {"slurm", {{"queue", "x"}}}};
  EXPECT_EQ(ErrorOf(j), "backend.slurm.queue: unknown key (expected one of partition, extra_args, submit)");
  j["backend"] = {{"kind", "slurm"}, {"slurm", {{"extra_args", "--exclusive"}}}};
  EXPECT_EQ(ErrorOf(j), "backend.slurm.extra_args: expected an array of strings, got \"--exclusive\"");
  j["backend"] = {{"kind", "slurm"},
                  {"slurm", {{"partition", "gpu"}, {"extra_args", {"--constraint=zen5"}}}}};
  Spec s = Parse(j);
  EXPECT_EQ(s.parallel, 2);
  EXPECT_EQ(s.backend.kind, BackendSpec::Kind::kSlurm);
  EXPECT_EQ(s.backend.slurm_partition, "gpu");
  EXPECT_EQ(s.backend.slurm_extra_args, std::vector<std::string>{"--constraint=zen5"});
  EXPECT_EQ(s.backend.slurm_submit, BackendSpec::Submit::kSbatch);
  j["backend"]["slurm"]["submit"] = "qsub";
  EXPECT_EQ(ErrorOf(j), "backend.slurm.submit: expected one of sbatch, srun, got \"qsub\"");
  j["backend"]["slurm"]["submit"] = "srun";
  EXPECT_EQ(Parse(j).backend.slurm_submit, BackendSpec::Submit::kSrun);
  EXPECT_THROW(ParseBackendKind("pbs", "--backend"), Error);
}

TEST_F(SpecTest, LimitsAreChecked) {
  OJson j = Valid();
  j["limits"] = {{"threads", 0}};
  EXPECT_EQ(ErrorOf(j), "limits.threads: must be at least 1, got 0");
  j["limits"] = {{"log_bytes", 100}};
  EXPECT_EQ(ErrorOf(j), "limits.log_bytes: must be at least 4096, got 100");
  j["limits"] = {{"max_experiments", -1}};
  EXPECT_EQ(ErrorOf(j), "limits.max_experiments: must be at least 0, got -1");
  j["limits"] = {{"memory_mb", "lots"}};
  EXPECT_EQ(ErrorOf(j), "limits.memory_mb: expected an integer, got \"lots\"");
  j["limits"] = {
      {"threads", 3}, {"memory_mb", 2048}, {"log_bytes", 65536}, {"max_experiments", 50}};
  Spec s = Parse(j);
  EXPECT_EQ(s.limits.threads, 3);
  EXPECT_EQ(s.limits.memory_mb, 2048u);
  EXPECT_EQ(s.limits.log_bytes, 65536u);
  EXPECT_EQ(s.limits.max_experiments, 50);
}

TEST_F(SpecTest, BudgetOverrideReplacesTheAmountOfTheSpecsKind) {
  std::ofstream(origin_) << Valid().dump(2);
  Spec time = LoadSpecWithBudget(origin_, 2.5);
  EXPECT_EQ(time.budget.kind, Budget::Kind::kTime);
  EXPECT_DOUBLE_EQ(time.budget.seconds, 2.5);
  EXPECT_NE(time.text.find("2.5"), std::string::npos) << "the run must record the new amount";
  EXPECT_EQ(time.name, "toy");

  OJson tokens = Valid();
  tokens["budget"] = {{"kind", "tokens"}, {"tokens", 1000}};
  tokens["train"]["timeout_seconds"] = 60;
  std::ofstream(origin_) << tokens.dump(2);
  EXPECT_EQ(LoadSpecWithBudget(origin_, 5000).budget.tokens, 5000);
  try {
    LoadSpecWithBudget(origin_, 10.5);
    FAIL() << "a fractional token budget was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              origin_.string() + ": --budget: a token budget is a whole number of tokens > 0");
  }
}

}  // namespace
}  // namespace ratchet

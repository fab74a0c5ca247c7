// Spec validation of the proposer kinds of issue 4, and MakeProposer for them.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "base/error.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/spec/spec.h"

namespace ratchet {
namespace {

namespace fs = std::filesystem;
using OJson = nlohmann::ordered_json;

class ProposerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "proposer_spec_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "tmpl");
    std::ofstream(root_ / "tmpl/params.json") << "{\"x\": 0}\n";
    origin_ = root_ / "x.json";
  }
  void TearDown() override { fs::remove_all(root_); }

  static OJson With(OJson proposer) {
    OJson j = OJson::parse(R"({
      "name": "toy", "template": "tmpl", "mutable": ["params.json"],
      "budget": {"kind": "time", "seconds": 1},
      "train": {"argv": ["t", "{workspace}"]}, "evaluate": {"argv": ["e"]},
      "metric": {"name": "score"},
      "search_space": {"x": {"type": "float", "min": -5, "max": 5}}
    })");
    j["proposer"] = std::move(proposer);
    return j;
  }
  Spec Parse(const OJson& j) { return ParseSpec(j.dump(2), origin_); }
  std::string ErrorOf(const OJson& j) {
    try {
      Parse(j);
    } catch (const Error& e) {
      std::string msg = e.what();
      return msg.substr(origin_.string().size() + 2);
    }
    return "(no error)";
  }

  fs::path root_, origin_;
};

TEST_F(ProposerSpecTest, SearchKindsReadTheirOwnKeys) {
  Spec s =
      Parse(With({{"kind", "tpe"}, {"config", "params.json"}, {"startup", 5}, {"candidates", 48}}));
  EXPECT_EQ(s.proposer.kind, "tpe");
  EXPECT_EQ(s.proposer.options["startup"], 5);
  EXPECT_TRUE(IsSearchProposerKind("evolution"));
  EXPECT_TRUE(IsSearchProposerKind("tpe"));
  EXPECT_FALSE(IsSearchProposerKind("openai"));
  EXPECT_EQ(ErrorOf(With({{"kind", "tpe"}, {"config", "params.json"}, {"startup", 0}})),
            "proposer.startup: must be at least 1, got 0");
  EXPECT_EQ(ErrorOf(With({{"kind", "tpe"}, {"config", "params.json"}, {"multivariate", 1}}))
                .substr(0, 22),
            "proposer.multivariate:");
  EXPECT_EQ(ErrorOf(With({{"kind", "evolution"}, {"config", "params.json"}, {"population", 1}})),
            "proposer.population: must be at least 2, got 1");
  EXPECT_EQ(ErrorOf(With({{"kind", "evolution"}, {"config", "params.json"}, {"startup", 3}}))
                .substr(0, 30),
            "proposer.startup: unknown key ");
  EXPECT_EQ(ErrorOf(With({{"kind", "tpe"}})), "proposer.config: required for proposer kind tpe");
}

TEST_F(ProposerSpecTest, CommandNeedsAnArgvWithItsOwnPlaceholders) {
  Spec s = Parse(With({{"kind", "command"},
                       {"argv", {"agent", "--prompt", "{prompt_file}", "{seq}"}},
                       {"timeout_seconds", 60}}));
  EXPECT_EQ(s.proposer.kind, "command");
  EXPECT_EQ(ErrorOf(With({{"kind", "command"}})), "proposer.argv: required key is missing");
  EXPECT_EQ(ErrorOf(With({{"kind", "command"}, {"argv", OJson::array()}})),
            "proposer.argv: must not be empty");
  EXPECT_EQ(ErrorOf(With({{"kind", "command"}, {"argv", {"agent", "{data_dir}"}}})),
            "proposer.argv[1]: unknown placeholder {data_dir} (known: prompt_file, workspace, "
            "seed, seq)");
  EXPECT_EQ(ErrorOf(With({{"kind", "command"}, {"argv", {"a"}}, {"timeout_seconds", 0}})),
            "proposer.timeout_seconds: must be > 0, got 0");
  EXPECT_EQ(ErrorOf(With({{"kind", "command"}, {"argv", {"a"}}, {"model", "m"}})).substr(0, 28),
            "proposer.model: unknown key ");
}

TEST_F(ProposerSpecTest, OpenAiNeedsAModelAndNamesTheKeyVariableNeverTheKey) {
  Spec s = Parse(With({{"kind", "openai"},
                       {"model", "llama3"},
                       {"api_key_env", "OPENAI_API_KEY"},
                       {"config", "params.json"},
                       {"retries", 0},
                       {"temperature", 0.2}}));
  EXPECT_EQ(s.proposer.options["model"], "llama3");
  EXPECT_EQ(ErrorOf(With({{"kind", "openai"}})), "proposer.model: required key is missing");
  EXPECT_EQ(ErrorOf(With({{"kind", "openai"}, {"model", "m"}, {"api_key_env", "sk-abc123"}})),
            "proposer.api_key_env: must name an environment variable (letters, digits, '_'), not "
            "hold the key");
  EXPECT_EQ(
      ErrorOf(With({{"kind", "openai"}, {"model", "m"}, {"api_key", "sk-abc"}})).substr(0, 31),
      "proposer.api_key: unknown key (");
  EXPECT_EQ(ErrorOf(With({{"kind", "openai"}, {"model", "m"}, {"base_url", "localhost:8080"}})),
            "proposer.base_url: must start with http:// or https://, got \"localhost:8080\"");
  EXPECT_EQ(
      ErrorOf(With({{"kind", "openai"}, {"model", "m"}, {"config", "nope.json"}})).substr(0, 42),
      "proposer.config: \"nope.json\" is not a file");
}

TEST_F(ProposerSpecTest, MakeProposerBuildsEveryKind) {
  for (OJson p : {OJson{{"kind", "random"}, {"config", "params.json"}},
                  OJson{{"kind", "local"}, {"config", "params.json"}},
                  OJson{{"kind", "evolution"}, {"config", "params.json"}},
                  OJson{{"kind", "tpe"}, {"config", "params.json"}},
                  OJson{{"kind", "command"}, {"argv", {"true"}}},
                  OJson{{"kind", "openai"}, {"model", "m"}}}) {
    EXPECT_NE(MakeProposer(Parse(With(p))), nullptr) << p.dump();
  }
}

}  // namespace
}  // namespace ratchet

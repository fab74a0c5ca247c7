// `ratchet propose --dry-run` as a library call: prints the proposal, judges
// it by the path policy, and records nothing.
#include "ratchet/cli/propose_cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

namespace ratchet {
namespace {

namespace fs = std::filesystem;

class ProposeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "propose_cli_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "tmpl");
    std::ofstream(root_ / "tmpl/params.json") << "{\n  \"x\": 0.5,\n  \"act\": \"relu\"\n}\n";
    std::ofstream(root_ / "tmpl/harness.py") << "print(1)\n";
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path WriteSpec(const std::string& proposer) {
    fs::path spec = root_ / "spec.json";
    std::ofstream(spec) << R"({"name": "dry", "template": "tmpl", "mutable": ["params.json"],
      "budget": {"kind": "time", "seconds": 1},
      "train": {"argv": ["t", "{workspace}"]}, "evaluate": {"argv": ["e"]},
      "metric": {"name": "score"}, "proposer": )"
                        << proposer << R"(,
      "search_space": {"x": {"type": "float", "min": 0, "max": 1},
                       "act": {"type": "choice", "values": ["relu", "gelu"]}}})";
    return spec;
  }

  fs::path root_;
};

TEST_F(ProposeCliTest, PrintsTheNextMutationOfANewRunWithoutAWorkspace) {
  ProposeOptions options;
  options.spec_path = WriteSpec(R"({"kind": "tpe", "config": "params.json"})");
  std::ostringstream out;
  EXPECT_EQ(CommandPropose(options, out), 0) << out.str();
  EXPECT_NE(out.str().find("experiment 1 of run 'dry' (proposer tpe, new run"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("description: "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("+++ b/params.json"), std::string::npos) << out.str();
}

TEST_F(ProposeCliTest, AnEditOutsideTheMutablePathsIsReportedInvalid) {
  ProposeOptions options;
  options.spec_path = WriteSpec(
      R"({"kind": "command", "argv": ["/bin/sh", "-c", "echo x >> harness.py; echo edited"]})");
  std::ostringstream out;
  EXPECT_EQ(CommandPropose(options, out), 1);
  EXPECT_NE(out.str().find("description: edited"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("invalid: "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("--- prompt ---"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace ratchet

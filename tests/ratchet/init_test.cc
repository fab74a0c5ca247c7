// `ratchet init`: the spec it writes for the two repository kinds it knows
// (tests/ratchet/fixtures/autoresearch, the shape of karpathy/autoresearch;
// experiments/nanogpt-torch), what it prints, and its one-line refusals.
#include "ratchet/cli/init.h"

#include <gtest/gtest.h>

#include <sstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/spec/spec.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

fs::path Fixture() { return SourceDir() / "tests" / "ratchet" / "fixtures" / "autoresearch"; }

std::string ErrorOf(const InitOptions& options) {
  std::ostringstream out;
  try {
    CommandInit(options, out);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Init, AnAutoresearchRepositoryGetsASpecThatLoadsWithTrainPyMutableAndPrepareSPinned) {
  TempDir temp;
  const fs::path output = temp.path() / "autoresearch.json";
  std::ostringstream out;
  CommandInit({.dir = Fixture(), .output = output, .from_autoresearch = true}, out);

  const Spec spec = LoadSpec(output);  // it loads: every path resolves from its own folder
  EXPECT_EQ(spec.name, "autoresearch");
  EXPECT_EQ(spec.mutable_globs, std::vector<std::string>{"train.py"});
  EXPECT_EQ(fs::weakly_canonical(spec.template_dir), fs::weakly_canonical(Fixture()));
  const json written = json::parse(ReadFile(output));
  ASSERT_EQ(written["immutable"].size(), 1u);
  const std::string pinned = written["immutable"][0];
  EXPECT_EQ(pinned.rfind("{spec_dir}/", 0), 0u) << pinned;
  EXPECT_EQ(fs::weakly_canonical(output.parent_path() / pinned.substr(11)),
            fs::weakly_canonical(Fixture() / "prepare.py"));
  EXPECT_EQ(written["budget"], json({{"kind", "time"}, {"seconds", 300.0}}));  // its TIME_BUDGET
  EXPECT_EQ(written["metric"], json({{"name", "val_bpb"}, {"goal", "minimize"}, {"format", "kv"}}));
  // It evaluates itself: the evaluate command reads its summary back.
  EXPECT_EQ(written["evaluate"]["argv"], json({"/bin/cat", "{run_dir}/train.out"}));
  EXPECT_EQ(written["train"]["argv"], json({"/usr/bin/python3", "{workspace}/train.py"}));
  EXPECT_EQ(written["proposer"]["kind"], "command");
  EXPECT_EQ(written["proposer"]["argv"][0], "YOUR-AGENT-CLI");
  EXPECT_FALSE(written.contains("data"));

  const std::string text = out.str();
  for (const char* expected :
       {"wrote ", "guessed:", "budget: 300 s (TIME_BUDGET)", "check before `ratchet run",
        "proposer.argv: replace YOUR-AGENT-CLI", "train.py takes no --seed",
        "a mutation can print any number", "no data section", "pyproject.toml found",
        "results.tsv found and left alone"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
}

TEST(Init, TheNanogptTorchLayoutGetsTheControllerFlagsItsEvaluatorAndADataSection) {
  TempDir temp;
  const fs::path dir = SourceDir() / "experiments" / "nanogpt-torch";
  const fs::path output = temp.path() / "nanogpt.json";
  std::ostringstream out;
  CommandInit({.dir = dir, .output = output}, out);
  LoadSpec(output);
  const json written = json::parse(ReadFile(output));
  EXPECT_EQ(written["train"]["argv"],
            json({"/usr/bin/python3", "{workspace}/train.py", "--data", "{train_data}", "--out",
                  "{run_dir}/model.pt", "--seed", "{seed}", "--threads", "{threads}",
                  "--time-budget", "{budget}"}));
  EXPECT_EQ(written["budget"]["seconds"], 60.0);  // train.py's TIME_BUDGET
  EXPECT_EQ(written["immutable"].size(), 2u);
  EXPECT_NE(written["evaluate"]["argv"][2].get<std::string>().find("evaluate.py"),
            std::string::npos);
  EXPECT_EQ(written["metric"]["format"], "json");
  EXPECT_EQ(written["data"]["train"], json({"train.bin"}));
  EXPECT_EQ(written["data"]["heldout"], json({"val.bin", "manifest.json"}));
  EXPECT_EQ(out.str().find("train.py takes no --seed"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("a mutation can print any number"), std::string::npos);
}

TEST(Init, AnUnknownLayoutIsOneLineNamingTheDirectoryAndWhatIsMissing) {
  TempDir temp;
  WriteFileAtomic(temp.path() / "train.py", "print('hi')\n");
  WriteFileAtomic(temp.path() / "README.md", "# not autoresearch\n");
  const std::string error = ErrorOf({.dir = temp.path()});
  EXPECT_EQ(error, temp.path().string() +
                       ": not an autoresearch layout: missing prepare.py, program.md (needs "
                       "prepare.py, train.py and program.md)");
  EXPECT_FALSE(fs::exists(temp.path() / "ratchet.json"));
}

TEST(Init, AMissingDirectoryIsNamed) {
  TempDir temp;
  EXPECT_EQ(ErrorOf({.dir = temp.path() / "nowhere"}),
            (temp.path() / "nowhere").string() + ": no such directory");
}

TEST(Init, AnExistingSpecIsKeptUnlessForced) {
  TempDir temp;
  const fs::path output = temp.path() / "spec.json";
  WriteFileAtomic(output, "mine\n");
  EXPECT_EQ(ErrorOf({.dir = Fixture(), .output = output}),
            output.string() + ": exists; pass --force to replace it");
  EXPECT_EQ(ReadFile(output), "mine\n");
  EXPECT_EQ(ErrorOf({.dir = Fixture(), .output = output, .force = true}), "");
  EXPECT_NO_THROW(LoadSpec(output));
}

TEST(Init, TheDefaultOutputIsRatchetJsonInTheRepositoryWithTheTemplateBeingItsOwnFolder) {
  TempDir temp;
  fs::copy(Fixture(), temp.path() / "repo", fs::copy_options::recursive);
  std::ostringstream out;
  CommandInit({.dir = temp.path() / "repo"}, out);
  const json written = json::parse(ReadFile(temp.path() / "repo" / "ratchet.json"));
  EXPECT_EQ(written["template"], ".");
  EXPECT_EQ(written["immutable"], json({"{spec_dir}/prepare.py"}));
  EXPECT_NO_THROW(LoadSpec(temp.path() / "repo" / "ratchet.json"));
}

}  // namespace
}  // namespace ratchet::testing

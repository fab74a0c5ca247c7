// Bring your own trainer, end to end: a copy of experiments/nanogpt-torch
// (an autoresearch-layout repository) goes through the real `ratchet init`
// and `ratchet run` with the sandbox on, a fake agent editing train.py, a
// 2 s budget and the real PyTorch trainer and evaluator.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

std::vector<std::vector<std::string>> ReadTsv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(ReadFile(path));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, '\t');) cells.push_back(cell);
    if (!line.empty() && line.back() == '\t') cells.push_back("");  // an empty last cell
    rows.push_back(cells);
  }
  return rows;
}

CommandOutput Ratchet(const std::vector<std::string>& args, const fs::path& dir,
                      const fs::path& cache) {
  // Its own data folder.
  return RunProgram(RatchetArgs(args), dir, 600, {{"XDG_CACHE_HOME", cache.string()}});
}

TEST(NanogptTorchE2e, InitThenRunGivesASandboxedRatchetWithResultsTsv) {
  TempDir temp;
  const fs::path repo = temp.path() / "repo", spec_dir = temp.path() / "spec";
  fs::copy(SourceDir() / "experiments" / "nanogpt-torch", repo, fs::copy_options::recursive);
  fs::create_directories(spec_dir);
  fs::copy_file(SourceDir() / "tests" / "ratchet" / "fixtures" / "nanogpt_agent" / "fake_agent.py",
                spec_dir / "fake_agent.py");
  const fs::path spec = spec_dir / "ratchet.json";

  CommandOutput init = Ratchet({"init", repo.string(), "--output", spec.string()}, temp.path(),
                               temp.path() / "cache");
  ASSERT_TRUE(init.result.Succeeded()) << init.err;
  EXPECT_NE(init.out.find("proposer.argv: replace YOUR-AGENT-CLI"), std::string::npos) << init.out;

  // What the user does next: name the agent. The test also shortens the
  // measurement: strict acceptance, one baseline run, 8 KiB of held-out text.
  json edited = json::parse(ReadFile(spec));
  // (The spec's folder is readable in the agent's sandbox.)
  edited["proposer"]["argv"] = {"/usr/bin/python3", (spec_dir / "fake_agent.py").string(), "{seq}"};
  edited["acceptance"] = {{"policy", "strict"}, {"calibration", 1}};
  edited["evaluate"]["argv"].push_back("--max-bytes");
  edited["evaluate"]["argv"].push_back("8192");
  WriteFileAtomic(spec, edited.dump(2));

  const fs::path workspace = temp.path() / "ws";
  CommandOutput run = Ratchet({"run", spec.string(), "--workspace", workspace.string(), "--budget",
                               "2", "--max-experiments", "3"},
                              temp.path(), temp.path() / "cache");
  ASSERT_TRUE(run.result.Succeeded()) << run.out << run.err;
  EXPECT_NE(run.out.find("3 experiments"), std::string::npos) << run.out;

  const auto rows = ReadTsv(workspace / ".ratchet" / "runs" / "repo" / "results.tsv");
  ASSERT_EQ(rows.size(), 5u);  // header, baseline, three experiments
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"commit", "val_bpb", "memory_gb", "status", "description"}));
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 5u) << "row " << i;
    EXPECT_TRUE(std::regex_match(rows[i][0], std::regex("[0-9a-f]{7}"))) << rows[i][0];
  }
  const std::vector<std::string>& baseline = rows[1];
  EXPECT_EQ(baseline[3], "keep");
  EXPECT_GT(std::stod(baseline[1]), 1.0);
  EXPECT_LT(std::stod(baseline[1]), 8.0);
  // A torch trainer holds a few hundred MB; bubblewrap alone would read 0.0.
  EXPECT_GE(std::stod(baseline[2]), 0.1) << "peak memory of the sandboxed trainer";

  EXPECT_EQ(rows[2][4], "raise lr to 0.01");
  EXPECT_TRUE(rows[2][3] == "keep" || rows[2][3] == "discard") << rows[2][3];
  EXPECT_GT(std::stod(rows[2][1]), 1.0);
  EXPECT_EQ(rows[3][4], "break train.py");
  EXPECT_EQ(rows[3][3], "crash");
  EXPECT_EQ(rows[3][1], "0.000000");
  EXPECT_EQ(rows[4][4], "peek at the next byte");
  EXPECT_EQ(rows[4][3], "crash");

  CommandOutput show =
      Ratchet({"show", "3", "--workspace", workspace.string()}, temp.path(), temp.path() / "cache");
  ASSERT_TRUE(show.result.Succeeded()) << show.err;
  EXPECT_NE(show.out.find("not causal"), std::string::npos) << show.out;

  // Resumed with the same command: one more experiment, one more row.
  CommandOutput resumed = Ratchet({"run", spec.string(), "--workspace", workspace.string(),
                                   "--budget", "2", "--max-experiments", "1"},
                                  temp.path(), temp.path() / "cache");
  ASSERT_TRUE(resumed.result.Succeeded()) << resumed.out << resumed.err;
  const auto after = ReadTsv(workspace / ".ratchet" / "runs" / "repo" / "results.tsv");
  ASSERT_EQ(after.size(), 6u);
  EXPECT_EQ(std::vector(after.begin(), after.begin() + 5), rows);
  EXPECT_EQ(after[5][4], "score every model 0");
  EXPECT_EQ(after[5][3], "crash");  // invalid: evaluate.py is outside the mutable set
  CommandOutput show_invalid =
      Ratchet({"show", "4", "--workspace", workspace.string()}, temp.path(), temp.path() / "cache");
  EXPECT_NE(show_invalid.out.find("invalid"), std::string::npos) << show_invalid.out;
  EXPECT_NE(show_invalid.out.find("evaluate.py"), std::string::npos) << show_invalid.out;
}

}  // namespace
}  // namespace ratchet::testing

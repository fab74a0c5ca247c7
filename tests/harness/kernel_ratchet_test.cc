// End-to-end: the real `ratchet` program tunes the matmul template
// (experiments/matmul) with the real `ratchet-kbench` as its evaluator, and
// the kernel it keeps is faster than the template's default and still correct.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/fs.h"
#include "tests/ratchet/e2e_util.h"

namespace ratchet::testing {
namespace {

using nlohmann::json;

constexpr int kExperiments = 4;

// specs/matmul.json (its acceptance policy included) made fit for a test:
// absolute template, short timing without the OpenBLAS comparison, and the
// `random` proposer with a seed whose first two proposals are known to be
// 4-6x faster than the template's latency-bound default (MR 1 -> 6, NR 8 ->
// 64, KC 16 -> 128/512; measured 41 and 55 vs 8-10 wall GFLOP/s with
// --quick on the loaded 2-core machine, 112 vs 29 on a quiet one), so the
// confirm test accepts them however busy the machine is. Random proposals do
// not depend on earlier outcomes.
fs::path WriteQuickMatmulSpec(const fs::path& dir) {
  json spec = json::parse(ReadFile(SourceDir() / "specs" / "matmul.json"));
  spec["template"] = (SourceDir() / "experiments" / "matmul").string();
  json& argv = spec["evaluate"]["argv"];
  argv.push_back("--quick");
  argv.push_back("--no-blas");
  spec["proposer"]["kind"] = "random";
  spec["proposer"]["seed"] = 1;
  spec["limits"]["max_experiments"] = kExperiments;
  fs::path path = dir / "matmul-quick.json";
  WriteFileAtomic(path, spec.dump(2));
  return path;
}

json RunJson(const std::vector<std::string>& args, const fs::path& log_dir) {
  CommandOutput output = RunProgram(RatchetArgs(args), log_dir);
  EXPECT_TRUE(output.result.Succeeded()) << output.err;
  return json::parse(output.out, nullptr, /*allow_exceptions=*/false);
}

TEST(KernelRatchet, AShortMatmulRatchetKeepsAFasterKernelThatStillPassesTheBench) {
  TempDir temp;
  const fs::path workspace = temp.path() / "ws";
  const fs::path spec = WriteQuickMatmulSpec(temp.path());
  const json spec_json = json::parse(ReadFile(spec));

  CommandOutput run =
      RunProgram(RatchetArgs({"run", spec.string(), "--workspace", workspace.string(),
                              "--max-experiments", std::to_string(kExperiments)}),
                 temp.path(), /*timeout_seconds=*/600);
  ASSERT_TRUE(run.result.Succeeded()) << run.out << run.err;

  // Faster: an accepted experiment (not the baseline) whose confirmed metric
  // beats the baseline's.
  json best = RunJson({"best", "--workspace", workspace.string(), "--format", "json"}, temp.path());
  ASSERT_TRUE(best.is_object()) << best;
  EXPECT_EQ(best["status"], "accepted") << best.dump(2);
  EXPECT_GT(best["seq"].get<int>(), 0) << "only the baseline is kept:\n" << best.dump(2);
  ASSERT_TRUE(best["metric"].is_number() && best["baseline_metric"].is_number()) << best;
  EXPECT_GT(best["metric"].get<double>(), best["baseline_metric"].get<double>()) << best.dump(2);
  ASSERT_TRUE(best["commit"].is_string()) << best;

  // The workspace folder holds the best commit: its tunables differ from
  // the template's default.
  const json tuned = json::parse(ReadFile(workspace / "tune.json"));
  const json original = json::parse(ReadFile(SourceDir() / "experiments" / "matmul" / "tune.json"));
  EXPECT_NE(tuned, original);

  // Still correct: the kept kernel passes the immutable bench again, outside
  // the ratchet.
  CommandOutput check =
      RunProgram({(BinDir() / "ratchet-kbench").string(), "--type", "matmul", "--source",
                  (workspace / "kernel.cpp").string(), "--defines",
                  (workspace / "tune.json").string(), "--threads", "1", "--quick", "--no-blas"},
                 temp.path(), /*timeout_seconds=*/300);
  EXPECT_EQ(check.result.exit_code, 0) << check.out << check.err;
  json report = json::parse(check.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(report.is_object()) << check.out;
  EXPECT_EQ(report["correct"], true) << check.out;
  EXPECT_TRUE(report["gflops"].is_number()) << check.out;
  EXPECT_TRUE(report[spec_json["metric"]["name"].get<std::string>()].is_number()) << check.out;
}

}  // namespace
}  // namespace ratchet::testing

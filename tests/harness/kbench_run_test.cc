// End to end: fixture kernels (tests/harness/kernels/) and the experiment
// templates through the whole bench, quick timing, no BLAS.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

#include "harness/kbench.h"

namespace ratchet::kbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = RATCHET_SOURCE_DIR;
const fs::path kKernels = kSource / "tests/harness/kernels";

KbenchOptions Quick(const std::string& type, const fs::path& source) {
  KbenchOptions o;
  o.type = type;
  o.source = source;
  o.quick = true;
  o.blas = false;
  o.check_timeout_seconds = 20;
  return o;
}

json RunFixture(const std::string& type, const std::string& fixture) {
  return RunKbench(Quick(type, kKernels / fixture));
}

// The report of a failed candidate: correct false, no metric, an error.
void ExpectRejected(const json& r, const std::string& metric, const std::string& why) {
  EXPECT_FALSE(r.value("correct", true)) << r.dump();
  EXPECT_FALSE(r.contains(metric)) << r.dump();
  EXPECT_FALSE(r.contains(metric + "_cpu")) << r.dump();
  EXPECT_NE(r.value("error", "").find(why), std::string::npos) << r.dump();
}

TEST(KbenchRun, ANaiveCorrectMatmulPassesAndGetsAMetric) {
  const json r = RunFixture("matmul", "naive_matmul.cpp");
  ASSERT_TRUE(r.value("correct", false)) << r.dump();
  EXPECT_GT(r.value("gflops", 0.0), 0.0);
  // Single-threaded, so the CPU-time rate is close to the wall-time one
  // unless the machine is busy (then the wall-time rate is lower).
  EXPECT_GT(r.value("gflops_cpu", 0.0), 0.5 * r.value("gflops", 0.0)) << r.dump();
  EXPECT_EQ(r["bench"].size(), 3u);
  EXPECT_GE(r["checks"].size(), 13u);
}

TEST(KbenchRun, AWrongResultOnOneOddShapeOnlyIsCaught) {
  const json r = RunFixture("matmul", "matmul_wrong_odd_shape.cpp");
  ExpectRejected(r, "gflops", "sweep M=97,N=101,K=103: wrong value");
  int failed = 0;
  for (const json& c : r["checks"]) failed += !c["ok"].get<bool>();
  EXPECT_EQ(failed, 1) << r.dump();
}

TEST(KbenchRun, NanOutputIsCaught) {
  ExpectRejected(RunFixture("matmul", "matmul_nan.cpp"), "gflops", "non-finite output");
}

TEST(KbenchRun, ANonDeterministicKernelIsCaught) {
  ExpectRejected(RunFixture("matmul", "matmul_nondeterministic.cpp"), "gflops",
                 "non-deterministic");
}

TEST(KbenchRun, ASegfaultingKernelFailsAndTheBenchSurvives) {
  ExpectRejected(RunFixture("matmul", "matmul_segfault.cpp"), "gflops",
                 "sweep M=64,N=64,K=64: crashed: killed by SIGSEGV");
}

TEST(KbenchRun, AHangingKernelIsKilledAndFails) {
  KbenchOptions o = Quick("matmul", kKernels / "matmul_hang.cpp");
  o.check_timeout_seconds = 2;
  ExpectRejected(RunKbench(o), "gflops", "sweep M=31,N=37,K=41: hung: timed out");
}

TEST(KbenchRun, AKernelWrongOnlyOnTheTimedShapesIsCaughtOnItsFirstTimedCall) {
  ExpectRejected(RunFixture("matmul", "matmul_wrong_on_bench.cpp"), "gflops",
                 "timing: M=4096,N=768,K=256: timed call 1 (fresh inputs): wrong value");
}

// Reward hacks of the timing itself (a published kernel-optimisation system
// was sunk by the first): each timed call gets fresh inputs, alternately at
// new addresses, a poisoned output, and a check afterwards.
TEST(KbenchRun, AKernelThatHandsBackACachedOutputIsCaughtOnATimedCall) {
  ExpectRejected(RunFixture("matmul", "matmul_output_cache.cpp"), "gflops",
                 "timing: M=4096,N=768,K=256: timed call 1 (fresh inputs): wrong value");
}

TEST(KbenchRun, AKernelLazyAfterItsFirstTimedCallIsCaught) {
  ExpectRejected(RunFixture("matmul", "matmul_lazy_after_checks.cpp"), "gflops",
                 "timing: M=4096,N=768,K=256: timed call 1 (fresh inputs): non-finite or unwritten "
                 "output at element 768");
}

TEST(KbenchRun, ARateBeyondTheMachinesFmaPeakIsRefusedAsImplausible) {
  // The naive kernel against a pretend peak of 1 MFLOP/s: what a cache that
  // slipped past the checks would look like against the real one.
  KbenchOptions o = Quick("matmul", kKernels / "naive_matmul.cpp");
  o.fma_peak_gflops = 1e-3;
  const json r = RunKbench(o);
  ExpectRejected(r, "gflops", "timing: M=4096,N=768,K=256: ");
  ExpectRejected(r, "gflops",
                 "implausible, beyond 1.5x this machine's FP32 FMA peak of 0.001 GFLOP/s");
}

TEST(KbenchRun, TheMeasuredFmaPeakIsAboveWhatAnHonestKernelReaches) {
  const json r = RunFixture("matmul", "naive_matmul.cpp");
  ASSERT_TRUE(r.value("correct", false)) << r.dump();
  EXPECT_GT(r["fma_peak_gflops"].get<double>(), r["gflops"].get<double>()) << r.dump();
  EXPECT_GE(r["timed_calls_checked"].get<int>(), 6) << r.dump();  // >= 2 per bench shape
}

TEST(KbenchRun, AKernelCrashingOnlyOnTheTimedShapesFails) {
  ExpectRejected(RunFixture("matmul", "matmul_crash_on_bench.cpp"), "gflops",
                 "timing: crashed: killed by SIGABRT while timing M=4096,N=768,K=256");
}

TEST(KbenchRun, ACompileErrorNamesTheCompilersFirstError) {
  ExpectRejected(RunFixture("matmul", "matmul_compile_error.cpp"), "gflops",
                 "compile: kernel.cpp:7:36: error:");
}

TEST(KbenchRun, WritingPastTheOutputIsCaught) {
  ExpectRejected(RunFixture("matmul", "matmul_out_of_bounds.cpp"), "gflops",
                 "wrote outside its output");
}

TEST(KbenchRun, AMissingEntryPointIsNamed) {
  ExpectRejected(RunFixture("matmul", "matmul_no_symbol.cpp"), "gflops",
                 "does not define extern \"C\" kernel_matmul");
}

TEST(KbenchRun, SoftmaxWithoutTheMaxFailsOnLargeInputs) {
  ExpectRejected(RunFixture("softmax", "softmax_no_max.cpp"), "gbps", "adversarial");
}

TEST(KbenchRun, OnePassLayernormFailsOnOffsetRows) {
  ExpectRejected(RunFixture("layernorm", "layernorm_one_pass.cpp"), "gbps", "(offset)");
}

TEST(KbenchRun, NaiveKernelsOfEveryOtherTypePass) {
  for (const auto& [type, metric] :
       std::vector<std::pair<std::string, std::string>>{{"softmax", "gbps"},
                                                        {"rmsnorm", "gbps"},
                                                        {"layernorm", "gbps"},
                                                        {"attention", "gflops"},
                                                        {"rope", "gbps"}}) {
    const json r = RunFixture(type, "naive_" + type + ".cpp");
    EXPECT_TRUE(r.value("correct", false)) << r.dump();
    EXPECT_GT(r.value(metric, 0.0), 0.0) << r.dump();
  }
}

TEST(KbenchRun, TheExperimentTemplatesPassWithTheirDefaultTunables) {
  for (const auto& [type, metric] : std::vector<std::pair<std::string, std::string>>{
           {"matmul", "gflops"}, {"softmax", "gbps"}, {"attention", "gflops"}}) {
    const fs::path dir = kSource / "experiments" / type;
    if (!fs::exists(dir / "kernel.cpp")) continue;  // Written after matmul.
    KbenchOptions o = Quick(type, dir / "kernel.cpp");
    o.defines = dir / "tune.json";
    const json r = RunKbench(o);
    EXPECT_TRUE(r.value("correct", false)) << type << ": " << r.dump();
    EXPECT_GT(r.value(metric, 0.0), 0.0) << r.dump();
  }
}

TEST(KbenchRun, MalformedTunablesAreTheCandidatesFailure) {
  KbenchOptions o = Quick("matmul", kKernels / "naive_matmul.cpp");
  const fs::path bad = fs::temp_directory_path() / ("kbench-bad-tune-" + std::to_string(getpid()));
  FILE* f = fopen(bad.c_str(), "w");
  fputs("{\"MC\": [1]}", f);
  fclose(f);
  o.defines = bad;
  ExpectRejected(RunKbench(o), "gflops", "MC: expected a number");
  fs::remove(bad);
}

// The program itself: one JSON line on stdout, exit 1 for a failed candidate.
TEST(KbenchRun, TheProgramPrintsOneJsonLineAndExitsOneOnFailure) {
  const std::string command = std::string(RATCHET_BIN_DIR) +
                              "/ratchet-kbench --type matmul --source " +
                              (kKernels / "matmul_compile_error.cpp").string() + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
  const json r = json::parse(out);
  EXPECT_FALSE(r["correct"].get<bool>());
}

TEST(KbenchRun, TheProgramExitsTwoForAnUnknownType) {
  const std::string command =
      std::string(RATCHET_BIN_DIR) + "/ratchet-kbench --type conv --source x.cpp >/dev/null 2>&1";
  const int status = system(command.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace ratchet::kbench

#include "harness/kbench_compile.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include "base/error.h"
#include "base/fs.h"

namespace ratchet::kbench {
namespace {

namespace fs = std::filesystem;

const fs::path kKernels = fs::path(RATCHET_SOURCE_DIR) / "tests/harness/kernels";

class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (fs::temp_directory_path() / "kbench-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(KbenchCompile, TunablesBecomeDefinesInFileOrder) {
  const Defines d = ParseDefines(R"({"MC": 64, "PACK": true, "ORDER": "jki", "SCALE": 0.5})", "t");
  ASSERT_EQ(d.size(), 4u);
  // nlohmann orders keys alphabetically; what matters is each pair.
  std::map<std::string, std::string> m(d.begin(), d.end());
  EXPECT_EQ(m["MC"], "64");
  EXPECT_EQ(m["PACK"], "1");
  EXPECT_EQ(m["ORDER"], "jki");
  EXPECT_EQ(m["SCALE"], "0.5");
}

TEST(KbenchCompile, TunablesThatCouldInjectCodeAreRejected) {
  EXPECT_THROW(ParseDefines(R"J({"X": "1; system(0)"})J", "t"), Error);
  EXPECT_THROW(ParseDefines(R"({"not-a-name": 1})", "t"), Error);
  EXPECT_THROW(ParseDefines(R"({"X": [1, 2]})", "t"), Error);
  EXPECT_THROW(ParseDefines(R"([1])", "t"), Error);
  try {
    ParseDefines("{\"A\": 1,", "tune.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tune.json"), std::string::npos);
  }
}

TEST(KbenchCompile, FirstErrorLineSkipsContextLines) {
  const std::string log =
      "kernel.cpp: In function 'void f()':\n"
      "kernel.cpp:3:1: warning: unused\n"
      "kernel.cpp:7:3: error: expected ';' before 'for'\n"
      "kernel.cpp:9:1: error: second\n";
  EXPECT_EQ(FirstErrorLine(log), "kernel.cpp:7:3: error: expected ';' before 'for'");
  EXPECT_EQ(FirstErrorLine("\nsomething odd\n"), "something odd");
}

TEST(KbenchCompile, ACompileErrorReportsTheCompilersFirstError) {
  TempFolder temp;
  CompileRequest request;
  request.source = kKernels / "matmul_compile_error.cpp";
  request.work_dir = temp.path();
  const CompileResult result = CompileKernel(request);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.first_error.find("kernel.cpp:7:36"), std::string::npos) << result.first_error;
  EXPECT_NE(result.first_error.find("error"), std::string::npos) << result.first_error;
  // The private folder's path is not part of the message.
  EXPECT_EQ(result.first_error.find(temp.path().string()), std::string::npos);
}

TEST(KbenchCompile, AGoodKernelBecomesASharedObjectWithTheFixedFlags) {
  TempFolder temp;
  CompileRequest request;
  request.source = kKernels / "naive_matmul.cpp";
  request.defines = {{"UNUSED_TUNABLE", "3"}};
  request.work_dir = temp.path();
  const CompileResult result = CompileKernel(request);
  ASSERT_TRUE(result.ok) << result.log;
  EXPECT_TRUE(fs::exists(result.shared_object));
  const std::string argv = [&] {
    std::string s;
    for (const std::string& a : result.argv) s += a + " ";
    return s;
  }();
  EXPECT_NE(argv.find("-O3 -march=native -shared -fPIC -std=c++20"), std::string::npos) << argv;
  EXPECT_NE(argv.find("-DUNUSED_TUNABLE=3"), std::string::npos) << argv;
}

TEST(KbenchCompile, ASourceThatSetsItsOwnOptimizationFlagsIsRefused) {
  EXPECT_EQ(FlagOverride("#pragma omp parallel for\n#pragma GCC unroll 4\n"), "");
  EXPECT_EQ(FlagOverride("// fast\n#pragma  GCC   optimize(\"Ofast\")\nint x;"),
            "kernel.cpp:2: sets its own optimization options (\"GCC   optimize\"); the bench "
            "compiles every candidate with the same flags");
  EXPECT_NE(FlagOverride("_Pragma(\"GCC optimize(\\\"fast-math\\\")\")"), "");
  EXPECT_NE(FlagOverride("__attribute__((optimize(\"O0\"))) void f();"), "");
  EXPECT_NE(FlagOverride("[[gnu::optimize(\"O3\")]] void f();"), "");

  TempFolder temp;
  const fs::path source = temp.path() / "in.cpp";
  WriteFileAtomic(source, "#pragma GCC optimize(\"Ofast\")\n");
  CompileRequest request;
  request.source = source;
  request.work_dir = temp.path() / "build";
  const CompileResult result = CompileKernel(request);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.first_error.find("kernel.cpp:1: sets its own optimization options"),
            std::string::npos)
      << result.first_error;
}

}  // namespace
}  // namespace ratchet::kbench

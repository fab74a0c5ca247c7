// The real single-node Slurm cluster of scripts/local-slurm, for the tests of
// a test program: started once when the program starts, stopped when it
// ends, unless it was running already (a cluster the tests did not start is
// left as it was). Tests call RequireLocalSlurm() first: it skips them, with
// the reason, when the cluster cannot exist here (not root, Slurm or munge
// not installed) and fails them when it should start but does not.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "ratchet/runner/captured_command.h"

namespace ratchet::testing {

inline std::string LocalSlurmScript() {
  return (std::filesystem::path(RATCHET_SOURCE_DIR) / "scripts" / "local-slurm").string();
}

// True when the cluster's three daemons run.
inline bool LocalSlurmRunning() {
  return RunCaptured({LocalSlurmScript(), "status"}).exit_code == 0;
}

// Why no local cluster can run on this machine; "" when one can.
inline std::string LocalSlurmUnavailableReason() {
  if (::geteuid() != 0) return "scripts/local-slurm needs root";
  for (const char* program : {"slurmctld", "slurmd", "sbatch", "munged"}) {
    if (RunCaptured({"sh", "-c", std::string("command -v ") + program}).exit_code != 0) {
      return std::string(program) +
             " is not installed (Debian's slurmctld slurmd slurm-client munge; scripts/install-deps)";
    }
  }
  return "";
}

class LocalSlurmEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    unavailable_ = LocalSlurmUnavailableReason();
    if (!unavailable_.empty()) return;
    was_running_ = LocalSlurmRunning();
    ::ratchet::CommandOutput start = RunCaptured({LocalSlurmScript(), "start"});
    if (start.exit_code != 0) {
      start_error_ = "scripts/local-slurm start failed: " + start.output;
      return;
    }
    // Its last line: export SLURM_CONF=...
    const std::string key = "export SLURM_CONF=";
    const size_t at = start.output.rfind(key);
    if (at == std::string::npos) {
      start_error_ = "scripts/local-slurm start printed no SLURM_CONF: " + start.output;
      return;
    }
    std::string conf = start.output.substr(at + key.size());
    conf = conf.substr(0, conf.find('\n'));
    ::setenv("SLURM_CONF", conf.c_str(), 1);
  }
  void TearDown() override {
    if (unavailable_.empty() && !was_running_) RunCaptured({LocalSlurmScript(), "stop"});
  }

  const std::string& unavailable() const { return unavailable_; }
  const std::string& start_error() const { return start_error_; }

 private:
  std::string unavailable_, start_error_;
  bool was_running_ = false;
};

inline LocalSlurmEnvironment* const g_local_slurm = static_cast<LocalSlurmEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new LocalSlurmEnvironment));

}  // namespace ratchet::testing

// In a test's SetUp: skips when no cluster can run here, fails when it would
// but did not start.
#define RATCHET_REQUIRE_LOCAL_SLURM()                                                 \
  do {                                                                                \
    if (!::ratchet::testing::g_local_slurm->unavailable().empty()) {                  \
      GTEST_SKIP() << ::ratchet::testing::g_local_slurm->unavailable();               \
    }                                                                                 \
    ASSERT_EQ(::ratchet::testing::g_local_slurm->start_error(), "");                  \
  } while (0)

#include "harness/kbench_child.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace ratchet::kbench {
namespace {

TEST(KbenchChild, RecordsWrittenByTheChildReachTheParent) {
  const ChildOutcome outcome = RunInChild(
      [](int fd) {
        const std::string a = "hello", b(100000, 'x');  // b is bigger than a pipe buffer.
        WriteRecord(fd, 7, 1, a.data(), a.size());
        WriteRecord(fd, 8, 2, b.data(), b.size());
        return 0;
      },
      10);
  ASSERT_TRUE(outcome.Succeeded()) << outcome.Describe();
  const std::vector<Record> records = ParseRecords(outcome.output);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].tag, 7u);
  EXPECT_EQ(records[0].index, 1u);
  EXPECT_EQ(records[0].payload, "hello");
  EXPECT_EQ(records[1].payload.size(), 100000u);
}

TEST(KbenchChild, ASegfaultInTheChildIsReportedNotSuffered) {
  const ChildOutcome outcome = RunInChild(
      [](int) {
        raise(SIGSEGV);
        return 0;
      },
      10);
  EXPECT_EQ(outcome.kind, ChildOutcome::Kind::kSignaled);
  EXPECT_EQ(outcome.Describe(), "killed by SIGSEGV");
}

TEST(KbenchChild, AHangingChildIsKilledAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  const ChildOutcome outcome = RunInChild(
      [](int) {
        for (;;) pause();
        return 0;
      },
      0.3);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(outcome.kind, ChildOutcome::Kind::kTimedOut);
  EXPECT_LT(waited, 5);
  EXPECT_NE(outcome.Describe().find("timed out"), std::string::npos);
}

TEST(KbenchChild, ExitCodeOfTheChildIsKept) {
  const ChildOutcome outcome = RunInChild([](int) { return 3; }, 10);
  EXPECT_EQ(outcome.kind, ChildOutcome::Kind::kExited);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_FALSE(outcome.Succeeded());
  EXPECT_EQ(outcome.DescribeFailure(), "exited early: exit 3");
}

TEST(KbenchChild, TruncatedLastRecordIsDropped) {
  const ChildOutcome outcome = RunInChild(
      [](int fd) {
        const std::string a(1000, 'a');
        WriteRecord(fd, 1, 0, a.data(), a.size());
        WriteRecord(fd, 1, 1, a.data(), a.size());
        return 0;
      },
      10);
  const std::string cut = outcome.output.substr(0, outcome.output.size() - 10);
  EXPECT_EQ(ParseRecords(cut).size(), 1u);
}

TEST(KbenchChild, CommandOutputAndExitCodeAreCaptured) {
  const ChildOutcome outcome = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 4"}, 10);
  EXPECT_EQ(outcome.exit_code, 4);
  EXPECT_NE(outcome.output.find("out"), std::string::npos);
  EXPECT_NE(outcome.output.find("err"), std::string::npos);
}

TEST(KbenchChild, MissingProgramExitsWith127) {
  const ChildOutcome outcome = RunCommand({"/nonexistent/compiler"}, 10);
  EXPECT_EQ(outcome.exit_code, 127);
}

}  // namespace
}  // namespace ratchet::kbench

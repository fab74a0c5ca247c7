#include "ratchet/report/import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sstream>

#include "base/error.h"
#include "ratchet/loop/loop.h"
#include "ratchet/report/report_data.h"
#include "tests/ratchet/report_fixture.h"

namespace ratchet {
namespace {

using testing::AddSyntheticRun;
using ::testing::HasSubstr;
using testing::MachineA;
using testing::MachineB;
using testing::ReportTempDir;
using testing::SyntheticRun;
namespace fs = std::filesystem;

int64_t Count(const fs::path& db, const std::string& table) {
  sqlite3* handle = nullptr;
  sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(handle, ("SELECT count(*) FROM " + table).c_str(), -1, &stmt, nullptr);
  sqlite3_step(stmt);
  int64_t n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
  return n;
}

// Two machines, each with its own store holding a run tagged "night".
class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ws_ = dir_.path() / "a";
    b_db_ = dir_.path() / "b.db";
    fs::create_directories(RatchetDir(a_ws_));
    Store a = Store::Open(StorePath(a_ws_));
    AddSyntheticRun(a, SyntheticRun{});
    Store b = Store::Open(b_db_);
    SyntheticRun on_b;
    on_b.hardware = MachineB();
    on_b.budget_kind = "tokens";
    on_b.budget_amount = 1e6;
    on_b.depth_of_best = 8;
    on_b.t0 = 1'790'100'000;
    AddSyntheticRun(b, on_b);
  }
  std::string Import() {
    std::ostringstream out;
    CommandImport({b_db_, a_ws_}, out);
    return out.str();
  }
  ReportTempDir dir_;
  fs::path a_ws_, b_db_;
};

TEST_F(ImportTest, RunFromAnotherMachineIsAddedWithItsOwnHardwareAndANewTag) {
  std::string out = Import();
  EXPECT_THAT(out, HasSubstr("imported run night@"));
  Store store = Store::OpenReadOnly(StorePath(a_ws_));
  std::vector<RunRow> runs = store.ListRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].tag, "night@" + MachineB().Fingerprint().substr(0, 8));
  EXPECT_NE(runs[0].hardware_id, runs[1].hardware_id);
  EXPECT_EQ(store.GetHardware(*runs[1].hardware_id)->info.cpu_model, "Intel Core i9-13900K");
  EXPECT_EQ(Count(StorePath(a_ws_), "hardware"), 2);

  // The imported run reads back like the original, times included.
  Store b = Store::OpenReadOnly(b_db_);
  RunData original = LoadRunData(b, b.ListRuns()[0]);
  RunData copy = LoadRunData(store, runs[1]);
  EXPECT_EQ(copy.run.uid, original.run.uid);
  EXPECT_EQ(copy.run.budget_kind, "tokens");
  EXPECT_EQ(copy.run.updated_at, original.run.updated_at);
  ASSERT_EQ(copy.experiments.size(), original.experiments.size());
  for (size_t i = 0; i < copy.experiments.size(); ++i) {
    EXPECT_EQ(copy.experiments[i].metric, original.experiments[i].metric);
    EXPECT_EQ(copy.experiments[i].status, original.experiments[i].status);
    EXPECT_EQ(copy.experiments[i].started_at, original.experiments[i].started_at);
    EXPECT_EQ(copy.measurements[i].size(), original.measurements[i].size());
  }
  ASSERT_EQ(copy.events.size(), 1u);
  EXPECT_EQ(copy.events[0].at, original.events[0].at);
}

TEST_F(ImportTest, ImportingTwiceDuplicatesNothing) {
  Import();
  int64_t runs = Count(StorePath(a_ws_), "runs"),
          experiments = Count(StorePath(a_ws_), "experiments"),
          measurements = Count(StorePath(a_ws_), "measurements"),
          events = Count(StorePath(a_ws_), "events");
  std::string again = Import();
  EXPECT_THAT(again, HasSubstr("merged run night@"));
  EXPECT_THAT(again, HasSubstr("0 experiments added, 0 updated, 0 measurements, 0 events"));
  EXPECT_EQ(Count(StorePath(a_ws_), "runs"), runs);
  EXPECT_EQ(Count(StorePath(a_ws_), "experiments"), experiments);
  EXPECT_EQ(Count(StorePath(a_ws_), "measurements"), measurements);
  EXPECT_EQ(Count(StorePath(a_ws_), "events"), events);
  EXPECT_EQ(Count(StorePath(a_ws_), "hardware"), 2);
}

TEST_F(ImportTest, ImportingAgainAfterTheOtherMachineRanFurtherAddsOnlyWhatIsNew) {
  Import();
  {
    Store b = Store::Open(b_db_);
    RunRow run = b.ListRuns()[0];
    ExperimentRow e = *b.GetExperiment(run.id, 10);
    e.id = 0;
    e.seq = 11;
    e.description = "new on machine B";
    e.started_at += 60;
    *e.ended_at += 60;
    b.InsertExperiment(e);
    ExperimentRow changed = *b.GetExperiment(run.id, 7);
    changed.reason = "train: timed out after 601 s";
    b.UpdateExperiment(changed);
    b.SetRunState(run.id, RunState::kStopped);
  }
  std::string out = Import();
  EXPECT_THAT(out, HasSubstr("1 experiments added, 1 updated"));
  Store store = Store::OpenReadOnly(StorePath(a_ws_));
  RunRow merged = store.ListRuns()[1];
  EXPECT_EQ(merged.state, RunState::kStopped);
  EXPECT_EQ(store.GetExperiment(merged.id, 11)->description, "new on machine B");
  EXPECT_EQ(*store.GetExperiment(merged.id, 7)->reason, "train: timed out after 601 s");
  EXPECT_EQ(store.ListExperiments(merged.id).size(), 12u);
}

TEST_F(ImportTest, AFailureHalfWayImportsNothing) {
  {
    Store a = Store::Open(StorePath(a_ws_));
    a.Exec(
        "CREATE TRIGGER fail BEFORE INSERT ON experiments WHEN NEW.seq = 5 "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  }
  int64_t measurements = Count(StorePath(a_ws_), "measurements");
  try {
    Import();
    FAIL() << "expected the injected failure";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("injected failure"));
  }
  EXPECT_EQ(Count(StorePath(a_ws_), "runs"), 1);
  EXPECT_EQ(Count(StorePath(a_ws_), "hardware"), 1);
  EXPECT_EQ(Count(StorePath(a_ws_), "experiments"), 11);
  EXPECT_EQ(Count(StorePath(a_ws_), "measurements"), measurements);
}

TEST_F(ImportTest, ForeignProcessGroupsAreNotImported) {
  {
    Store b = Store::Open(b_db_);
    ExperimentRow e = *b.GetExperiment(b.ListRuns()[0].id, 10);
    e.status = ExperimentStatus::kRunning;
    e.pgid = 4242;
    b.UpdateExperiment(e);
  }
  Import();
  Store store = Store::OpenReadOnly(StorePath(a_ws_));
  EXPECT_FALSE(store.GetExperiment(store.ListRuns()[1].id, 10)->pgid.has_value());
}

TEST_F(ImportTest, ImportIntoAFreshFolderCreatesTheStoreAndRefusesItsOwnStore) {
  fs::path fresh = dir_.path() / "gather";
  fs::create_directories(fresh);
  std::ostringstream out;
  CommandImport({StorePath(a_ws_), fresh}, out);
  CommandImport({b_db_, fresh}, out);
  Store store = Store::OpenReadOnly(StorePath(fresh));
  EXPECT_EQ(store.ListRuns().size(), 2u);
  EXPECT_THROW(CommandImport({StorePath(fresh), fresh}, out), Error);
}

}  // namespace
}  // namespace ratchet

#include "ratchet/store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "ratchet/store/hardware.h"
#include "ratchet/store/store_schema.h"

namespace ratchet {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ratchet-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = dir_ / "store.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The message of the Error fn throws ("" if it does not throw).
  template <typename Fn>
  static std::string ErrorOf(Fn fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  static RunRow SampleRun(const std::string& tag, const std::string& goal = "minimize") {
    RunRow r;
    r.tag = tag;
    r.spec_name = "toy";
    r.spec_json = R"({"name":"toy"})";
    r.spec_sha256 = std::string(64, 'a');
    r.workspace = "/tmp/ws";
    r.baseline_commit = std::string(40, '1');
    r.budget_kind = "time";
    r.budget_amount = 1.5;
    r.metric_name = "score";
    r.goal = goal;
    r.pins_json = R"({"version":1,"files":[],"dirs":[]})";
    r.pins_digest = std::string(64, 'b');
    return r;
  }

  static ExperimentRow SampleExperiment(int64_t run_id, int64_t seq) {
    ExperimentRow e;
    e.run_id = run_id;
    e.seq = seq;
    e.parent_commit = std::string(40, '1');
    e.proposer = "local";
    e.description = "x: 1 -> 2";
    e.params_json = R"({"x":2})";
    e.phase = "train";
    return e;
  }

  // Inserts an experiment with a final status and metric; returns its id.
  int64_t AddFinished(Store& store, int64_t run_id, int64_t seq, ExperimentStatus status,
                      std::optional<double> metric, std::string tree = "") {
    ExperimentRow e = SampleExperiment(run_id, seq);
    e.status = status;
    e.metric = metric;
    if (!tree.empty()) e.tree = tree;
    return store.InsertExperiment(e);
  }

  fs::path dir_;
  fs::path db_;
};

RunRow StoreTestRun() {
  RunRow r;
  r.tag = "timing";
  r.spec_name = "toy";
  r.workspace = "/ws";
  r.baseline_commit = "c0";
  r.budget_kind = "time";
  r.metric_name = "score";
  return r;
}

// ---- Schema

// The per-experiment statements are prepared once and reused (a cache in
// the store): each use must start from fresh bindings, also after a use
// that failed half way.
TEST_F(StoreTest, ReusedStatementsStartCleanAfterSuccessAndAfterFailure) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  ExperimentRow bad = SampleExperiment(run, 1);
  bad.params_json = "not json";
  EXPECT_THROW(store.InsertExperiment(bad), Error);
  for (int64_t seq = 1; seq <= 3; ++seq) {
    ExperimentRow e = SampleExperiment(run, seq);
    if (seq == 2) e.metric = 0.5;  // the others leave metric NULL
    e.id = store.InsertExperiment(e);
    e.description = "updated " + std::to_string(seq);
    store.UpdateExperiment(e);
  }
  EXPECT_EQ(store.NextSeq(run), 4);
  for (int64_t seq = 1; seq <= 3; ++seq) {
    std::optional<ExperimentRow> e = store.GetExperiment(run, seq);
    ASSERT_TRUE(e) << seq;
    EXPECT_EQ(e->description, "updated " + std::to_string(seq));
    EXPECT_EQ(e->metric.has_value(), seq == 2) << seq;
  }
  EXPECT_FALSE(store.GetExperiment(run, 4));
}

TEST_F(StoreTest, OpeningAMissingFileCreatesTheLatestSchema) {
  Store store = Store::Open(db_);
  EXPECT_EQ(store.SchemaVersion(), kStoreSchemaVersion);
  EXPECT_TRUE(fs::exists(db_));
  EXPECT_TRUE(store.ListRuns().empty());
}

TEST_F(StoreTest, OpeningAnEmptyFileCreatesTheLatestSchema) {
  std::ofstream(db_).close();
  ASSERT_EQ(fs::file_size(db_), 0u);
  Store store = Store::Open(db_);
  EXPECT_EQ(store.SchemaVersion(), kStoreSchemaVersion);
}

TEST_F(StoreTest, ReopeningIsIdempotentAndKeepsTheData) {
  {
    Store store = Store::Open(db_);
    store.CreateRun(SampleRun("night"));
  }
  for (int i = 0; i < 2; ++i) {
    Store store = Store::Open(db_);
    EXPECT_EQ(store.SchemaVersion(), kStoreSchemaVersion);
    ASSERT_EQ(store.ListRuns().size(), 1u);
    EXPECT_EQ(store.ListRuns()[0].tag, "night");
  }
}

TEST_F(StoreTest, AStoreFromANewerSchemaIsRefusedByWritersAndReaders) {
  {
    Store store = Store::Open(db_);
    store.Exec("PRAGMA user_version = 99");
  }
  std::string message = ErrorOf([&] { Store::Open(db_); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_THAT(message, HasSubstr("schema version 99 is newer"));
  EXPECT_THAT(ErrorOf([&] { Store::OpenReadOnly(db_); }), HasSubstr("schema version 99 is newer"));
}

TEST_F(StoreTest, AVersion1StoreIsMigratedKeepingItsRows) {
  // Build a v1 store by hand, as an older ratchet left it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &raw), SQLITE_OK);
  std::string v1(StoreMigrations()[0]);
  std::string sql = v1 + "PRAGMA application_id = " + std::to_string(kStoreApplicationId) +
                    "; PRAGMA user_version = 1;"
                    "INSERT INTO runs (tag, spec_name, spec_json, spec_sha256, workspace, "
                    "baseline_commit, budget_kind, budget_amount, metric_name, goal, pins_json, "
                    "pins_digest, state, started_at, updated_at) VALUES ('old', 'toy', '{}', 'x', "
                    "'/ws', 'c0', 'time', 1, 'score', 'minimize', '{}', 'd', 'finished', 1, 1);"
                    "INSERT INTO experiments (run_id, seq, parent_commit, proposer, description, "
                    "params_json, status, phase, started_at, metric) VALUES (1, 0, 'c0', "
                    "'baseline', 'baseline', '{}', 'accepted', 'done', 1, 0.5);";
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  sqlite3_close(raw);

  EXPECT_THAT(ErrorOf([&] { Store::OpenReadOnly(db_); }), HasSubstr("older"));
  Store store = Store::Open(db_);
  EXPECT_EQ(store.SchemaVersion(), kStoreSchemaVersion);
  std::optional<RunRow> run = store.FindRun("old");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->uid.size(), 32u);  // filled by the v2 migration
  EXPECT_EQ(store.ListExperiments(run->id).size(), 1u);
  // The reporting view of v2 exists and joins the old rows.
  Store reader = Store::OpenReadOnly(db_);
  EXPECT_EQ(reader.SchemaVersion(), kStoreSchemaVersion);
}

TEST_F(StoreTest, AVersion2StoreIsMigratedKeepingItsRowsAndGainsExchanges) {
  // A v2 store as the ratchet before proposer exchanges left it.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &raw), SQLITE_OK);
  std::string sql = std::string(StoreMigrations()[0]) + std::string(StoreMigrations()[1]) +
                    "PRAGMA application_id = " + std::to_string(kStoreApplicationId) +
                    "; PRAGMA user_version = 2;"
                    "INSERT INTO runs (tag, spec_name, spec_json, spec_sha256, workspace, "
                    "baseline_commit, budget_kind, budget_amount, metric_name, goal, pins_json, "
                    "pins_digest, state, started_at, updated_at, uid) VALUES ('old', 'toy', '{}', "
                    "'x', '/ws', 'c0', 'time', 1, 'score', 'minimize', '{}', 'd', 'finished', 1, "
                    "1, 'u1');"
                    "INSERT INTO experiments (run_id, seq, parent_commit, proposer, description, "
                    "params_json, status, phase, started_at, metric, reason) VALUES (1, 1, 'c0', "
                    "'openai', 'lr up', '{}', 'rejected', '', 1, 0.7, 'not better');";
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
  sqlite3_close(raw);

  EXPECT_THAT(ErrorOf([&] { Store::OpenReadOnly(db_); }), HasSubstr("older"));
  Store store = Store::Open(db_);
  EXPECT_EQ(store.SchemaVersion(), kStoreSchemaVersion);
  std::optional<RunRow> run = store.FindRun("old");
  ASSERT_TRUE(run);
  EXPECT_EQ(run->uid, "u1");
  std::vector<ExperimentRow> experiments = store.ListExperiments(run->id);
  ASSERT_EQ(experiments.size(), 1u);
  EXPECT_EQ(experiments[0].description, "lr up");
  EXPECT_EQ(experiments[0].reason, "not better");
  EXPECT_FALSE(store.GetExchange(experiments[0].id));
  store.SetExchange(experiments[0].id, "the prompt", "the reply");
  std::optional<ExchangeRow> exchange = store.GetExchange(experiments[0].id);
  ASSERT_TRUE(exchange);
  EXPECT_EQ(exchange->prompt, "the prompt");
  EXPECT_EQ(exchange->reply, "the reply");
  // v4: where a measurement ran; older rows have none of it.
  EXPECT_FALSE(experiments[0].job_id);
  MeasurementRow m;
  m.experiment_id = experiments[0].id;
  m.host = "node7";
  m.job_id = "41 42";
  m.started_at = 10;
  m.ended_at = 12.5;
  m.hardware = "00ff00ff00ff00ff";
  store.AddMeasurement(m);
  MeasurementRow back = store.ListMeasurements(experiments[0].id).at(0);
  EXPECT_EQ(back.host, "node7");
  EXPECT_EQ(back.job_id, "41 42");
  EXPECT_EQ(back.started_at, 10);
  EXPECT_EQ(back.ended_at, 12.5);
  EXPECT_EQ(back.hardware, "00ff00ff00ff00ff");
}

TEST_F(StoreTest, AnExchangeIsReplacedAndGoesWithItsExperiment) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  int64_t id = store.InsertExperiment(SampleExperiment(run, 1));
  store.SetExchange(id, "first prompt", "");
  store.SetExchange(id, "second prompt", std::string(100000, 'r'));
  std::optional<ExchangeRow> exchange = store.GetExchange(id);
  ASSERT_TRUE(exchange);
  EXPECT_EQ(exchange->prompt, "second prompt");
  EXPECT_EQ(exchange->reply.size(), 100000u);
  EXPECT_THAT(ErrorOf([&] { store.SetExchange(id + 100, "p", "r"); }),
              HasSubstr("FOREIGN KEY constraint failed"));
  store.Exec("DELETE FROM experiments WHERE id = " + std::to_string(id));
  EXPECT_FALSE(store.GetExchange(id));
}

TEST_F(StoreTest, ASqliteDatabaseOfAnotherProgramIsRefused) {
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "CREATE TABLE notes (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  std::string message = ErrorOf([&] { Store::Open(db_); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_THAT(message, HasSubstr("not a ratchet store"));
}

TEST_F(StoreTest, ASqliteErrorNamesTheFileAndSqlitesMessage) {
  std::ofstream(db_) << std::string(4096, 'x');  // not a database
  std::string message = ErrorOf([&] { Store::Open(db_); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_THAT(message, HasSubstr("file is not a database"));
}

TEST_F(StoreTest, AConstraintViolationNamesTheFileAndTheConstraint) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  ExperimentRow e = SampleExperiment(run, 1);
  e.params_json = "not json";
  std::string message = ErrorOf([&] { store.InsertExperiment(e); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_THAT(message, HasSubstr("CHECK constraint failed"));
}

TEST_F(StoreTest, OpeningReadOnlyAMissingStoreNamesIt) {
  std::string message = ErrorOf([&] { Store::OpenReadOnly(db_); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(StoreTest, AReadOnlyStoreRefusesWritesNamingTheFile) {
  { Store::Open(db_).CreateRun(SampleRun("r")); }
  Store reader = Store::OpenReadOnly(db_);
  EXPECT_EQ(reader.ListRuns().size(), 1u);
  std::string message = ErrorOf([&] { reader.CreateRun(SampleRun("other")); });
  EXPECT_THAT(message, HasSubstr(db_.string()));
  EXPECT_THAT(message, HasSubstr("readonly"));
}

// ---- Enums

TEST(StoreEnumsTest, EveryStatusRoundTripsThroughItsName) {
  for (int i = 0; i <= static_cast<int>(ExperimentStatus::kInterrupted); ++i) {
    auto s = static_cast<ExperimentStatus>(i);
    EXPECT_EQ(ExperimentStatusFromString(ToString(s)), s);
  }
  EXPECT_EQ(ToString(ExperimentStatus::kDuplicate), "duplicate");
  for (auto s : {RunState::kRunning, RunState::kStopped, RunState::kFinished}) {
    EXPECT_EQ(RunStateFromString(ToString(s)), s);
  }
  for (auto r : {MeasurementRole::kCalibration, MeasurementRole::kCandidate,
                 MeasurementRole::kConfirm, MeasurementRole::kBaseline}) {
    EXPECT_EQ(MeasurementRoleFromString(ToString(r)), r);
  }
  for (int i = 0; i <= static_cast<int>(MeasurementStatus::kInterrupted); ++i) {
    auto s = static_cast<MeasurementStatus>(i);
    EXPECT_EQ(MeasurementStatusFromString(ToString(s)), s);
  }
}

TEST(StoreEnumsTest, AnUnknownStatusNameIsAnErrorNamingIt) {
  try {
    ExperimentStatusFromString("keep");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"keep\""));
    EXPECT_THAT(e.what(), HasSubstr("accepted"));
  }
}

TEST(StoreEnumsTest, OnlyProposedRunningAndEvaluatingAreUnfinished) {
  EXPECT_TRUE(IsUnfinished(ExperimentStatus::kProposed));
  EXPECT_TRUE(IsUnfinished(ExperimentStatus::kRunning));
  EXPECT_TRUE(IsUnfinished(ExperimentStatus::kEvaluating));
  EXPECT_FALSE(IsUnfinished(ExperimentStatus::kInterrupted));
  EXPECT_FALSE(IsUnfinished(ExperimentStatus::kAccepted));
}

// ---- Round trips

TEST_F(StoreTest, ARunRoundTripsEveryColumn) {
  Store store = Store::Open(db_);
  RunRow r = SampleRun("night", "maximize");
  r.best_commit = std::string(40, '2');
  r.hardware_id = store.UpsertHardware(DetectHardware());
  r.noise_sd = 0.01;
  r.baseline_metric = 1.25;
  r.state = RunState::kStopped;
  r.started_at = 1000.5;
  r.ended_at = 2000.25;
  int64_t id = store.CreateRun(r);
  std::optional<RunRow> got = store.FindRun("night");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, id);
  EXPECT_EQ(got->uid.size(), 32u);
  EXPECT_EQ(got->tag, r.tag);
  EXPECT_EQ(got->spec_name, r.spec_name);
  EXPECT_EQ(got->spec_json, r.spec_json);
  EXPECT_EQ(got->spec_sha256, r.spec_sha256);
  EXPECT_EQ(got->workspace, r.workspace);
  EXPECT_EQ(got->baseline_commit, r.baseline_commit);
  EXPECT_EQ(got->best_commit, r.best_commit);
  EXPECT_EQ(got->hardware_id, r.hardware_id);
  EXPECT_EQ(got->budget_kind, r.budget_kind);
  EXPECT_EQ(got->budget_amount, r.budget_amount);
  EXPECT_EQ(got->metric_name, r.metric_name);
  EXPECT_EQ(got->goal, "maximize");
  EXPECT_EQ(got->pins_json, r.pins_json);
  EXPECT_EQ(got->pins_digest, r.pins_digest);
  EXPECT_EQ(got->noise_sd, r.noise_sd);
  EXPECT_EQ(got->baseline_metric, r.baseline_metric);
  EXPECT_EQ(got->state, RunState::kStopped);
  EXPECT_EQ(got->started_at, 1000.5);
  EXPECT_EQ(got->updated_at, 1000.5);
  EXPECT_EQ(got->ended_at, r.ended_at);
  EXPECT_EQ(store.GetRun(id)->tag, "night");
  EXPECT_FALSE(store.FindRun("day"));
}

TEST_F(StoreTest, ARunStartsNowWithNullableColumnsEmpty) {
  Store store = Store::Open(db_);
  double before = NowSeconds();
  int64_t id = store.CreateRun(SampleRun("r"));
  RunRow got = *store.GetRun(id);
  EXPECT_GE(got.started_at, before - 1);
  EXPECT_LE(got.started_at, NowSeconds() + 1);
  EXPECT_FALSE(got.best_commit);
  EXPECT_FALSE(got.hardware_id);
  EXPECT_FALSE(got.noise_sd);
  EXPECT_FALSE(got.ended_at);
  EXPECT_EQ(got.state, RunState::kRunning);
}

TEST_F(StoreTest, ASecondRunWithTheSameTagIsRefused) {
  Store store = Store::Open(db_);
  store.CreateRun(SampleRun("night"));
  std::string message = ErrorOf([&] { store.CreateRun(SampleRun("night")); });
  EXPECT_THAT(message, HasSubstr("\"night\" already exists"));
  EXPECT_EQ(store.ListRuns().size(), 1u);
}

TEST_F(StoreTest, RunUpdatesAndSettersAreStored) {
  Store store = Store::Open(db_);
  int64_t id = store.CreateRun(SampleRun("r"));
  RunRow r = *store.GetRun(id);
  r.spec_name = "renamed";
  r.best_commit = "abc";
  store.UpdateRun(r);
  EXPECT_EQ(store.GetRun(id)->spec_name, "renamed");
  EXPECT_GE(store.GetRun(id)->updated_at, r.started_at);

  store.SetBestCommit(id, "def");
  store.SetNoise(id, 0.02, 3.5);
  store.SetRunState(id, RunState::kFinished);
  RunRow got = *store.GetRun(id);
  EXPECT_EQ(got.best_commit, "def");
  EXPECT_EQ(got.noise_sd, 0.02);
  EXPECT_EQ(got.baseline_metric, 3.5);
  EXPECT_EQ(got.state, RunState::kFinished);
  EXPECT_TRUE(got.ended_at);
  store.SetRunState(id, RunState::kRunning);  // a resumed run has no end
  EXPECT_FALSE(store.GetRun(id)->ended_at);

  r.id = 999;
  EXPECT_THAT(ErrorOf([&] { store.UpdateRun(r); }), HasSubstr("run id 999 does not exist"));
  EXPECT_THAT(ErrorOf([&] { store.SetBestCommit(999, "x"); }), HasSubstr("does not exist"));
}

TEST_F(StoreTest, AnExperimentRoundTripsEveryColumn) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  ExperimentRow e = SampleExperiment(run, 3);
  e.commit = std::string(40, 'c');
  e.tree = std::string(40, 't');
  e.diff_stat = "1 file changed";
  e.status = ExperimentStatus::kCrashed;
  e.metric = 1.5;
  e.spread = 0.25;
  e.n_measurements = 2;
  e.started_at = 10;
  e.ended_at = 20.5;
  e.train_seconds = 9.75;
  e.tokens = int64_t{1} << 40;
  e.peak_rss_kb = 123456;
  e.exit_code = 3;
  e.term_signal = 9;
  e.reason = "exit code 3";
  e.log_tail = std::string("line1\nline2\0binary", 18);
  e.decision_json = R"({"accept":false})";
  e.pgid = 4242;
  e.id = store.InsertExperiment(e);

  std::optional<ExperimentRow> got = store.GetExperiment(run, 3);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, e.id);
  EXPECT_EQ(got->run_id, run);
  EXPECT_EQ(got->seq, 3);
  EXPECT_EQ(got->parent_commit, e.parent_commit);
  EXPECT_EQ(got->commit, e.commit);
  EXPECT_EQ(got->tree, e.tree);
  EXPECT_EQ(got->proposer, e.proposer);
  EXPECT_EQ(got->description, e.description);
  EXPECT_EQ(got->params_json, e.params_json);
  EXPECT_EQ(got->diff_stat, e.diff_stat);
  EXPECT_EQ(got->status, ExperimentStatus::kCrashed);
  EXPECT_EQ(got->phase, e.phase);
  EXPECT_EQ(got->metric, e.metric);
  EXPECT_EQ(got->spread, e.spread);
  EXPECT_EQ(got->n_measurements, 2);
  EXPECT_EQ(got->started_at, 10);
  EXPECT_EQ(got->ended_at, e.ended_at);
  EXPECT_EQ(got->train_seconds, e.train_seconds);
  EXPECT_EQ(got->tokens, e.tokens);
  EXPECT_EQ(got->peak_rss_kb, e.peak_rss_kb);
  EXPECT_EQ(got->exit_code, 3);
  EXPECT_EQ(got->term_signal, 9);
  EXPECT_EQ(got->reason, e.reason);
  EXPECT_EQ(got->log_tail, e.log_tail);
  EXPECT_EQ(got->decision_json, e.decision_json);
  EXPECT_EQ(got->pgid, 4242);

  // Update: every column is rewritten, including back to NULL.
  e.status = ExperimentStatus::kAccepted;
  e.metric.reset();
  e.pgid.reset();
  e.phase = "done";
  store.UpdateExperiment(e);
  got = store.GetExperiment(run, 3);
  EXPECT_EQ(got->status, ExperimentStatus::kAccepted);
  EXPECT_FALSE(got->metric);
  EXPECT_FALSE(got->pgid);
  EXPECT_EQ(got->phase, "done");
  EXPECT_FALSE(store.GetExperiment(run, 4));

  e.id = 999;
  EXPECT_THAT(ErrorOf([&] { store.UpdateExperiment(e); }), HasSubstr("experiment id 999"));
}

TEST_F(StoreTest, ANanMetricReadsBackAsMissing) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  AddFinished(store, run, 1, ExperimentStatus::kCrashed, std::nan(""));
  EXPECT_FALSE(store.GetExperiment(run, 1)->metric);
}

TEST_F(StoreTest, SeqIsUniqueWithinARunButNotAcrossRuns) {
  Store store = Store::Open(db_);
  int64_t a = store.CreateRun(SampleRun("a"));
  int64_t b = store.CreateRun(SampleRun("b"));
  EXPECT_EQ(store.NextSeq(a), 0);
  store.InsertExperiment(SampleExperiment(a, 0));
  store.InsertExperiment(SampleExperiment(a, 1));
  std::string message = ErrorOf([&] { store.InsertExperiment(SampleExperiment(a, 1)); });
  EXPECT_THAT(message, HasSubstr("UNIQUE constraint failed"));
  EXPECT_THAT(message, HasSubstr(db_.string()));
  store.InsertExperiment(SampleExperiment(b, 1));
  EXPECT_EQ(store.NextSeq(a), 2);
  EXPECT_EQ(store.NextSeq(b), 2);
  std::vector<ExperimentRow> list = store.ListExperiments(a);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].seq, 0);
  EXPECT_EQ(list[1].seq, 1);
}

TEST_F(StoreTest, AnExperimentOfAMissingRunIsRefusedByTheForeignKey) {
  Store store = Store::Open(db_);
  EXPECT_THAT(ErrorOf([&] { store.InsertExperiment(SampleExperiment(42, 0)); }),
              HasSubstr("FOREIGN KEY constraint failed"));
}

TEST_F(StoreTest, AMeasurementRoundTripsEveryColumn) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  int64_t exp = store.InsertExperiment(SampleExperiment(run, 0));
  MeasurementRow m;
  m.experiment_id = exp;
  m.repeat = 1;
  m.seed = -7;  // seeds are 64-bit patterns; the sign bit must survive
  m.role = MeasurementRole::kCalibration;
  m.status = MeasurementStatus::kTimeout;
  m.metric = 2.5;
  m.train_seconds = 1.25;
  m.eval_seconds = 0.5;
  m.tokens = 1000;
  m.peak_rss_kb = 2048;
  m.exit_code = 0;
  m.term_signal = 15;
  m.extra_json = R"({"loss":1.0})";
  m.created_at = 77;
  m.id = store.AddMeasurement(m);
  MeasurementRow plain;
  plain.experiment_id = exp;
  plain.role = MeasurementRole::kCandidate;
  store.AddMeasurement(plain);

  std::vector<MeasurementRow> list = store.ListMeasurements(exp);
  ASSERT_EQ(list.size(), 2u);
  const MeasurementRow& got = list[0];  // calibration sorts first
  EXPECT_EQ(got.id, m.id);
  EXPECT_EQ(got.experiment_id, exp);
  EXPECT_EQ(got.repeat, 1);
  EXPECT_EQ(got.seed, -7);
  EXPECT_EQ(got.role, MeasurementRole::kCalibration);
  EXPECT_EQ(got.status, MeasurementStatus::kTimeout);
  EXPECT_EQ(got.metric, 2.5);
  EXPECT_EQ(got.train_seconds, 1.25);
  EXPECT_EQ(got.eval_seconds, 0.5);
  EXPECT_EQ(got.tokens, 1000);
  EXPECT_EQ(got.peak_rss_kb, 2048);
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.term_signal, 15);
  EXPECT_EQ(got.extra_json, m.extra_json);
  EXPECT_EQ(got.created_at, 77);
  EXPECT_FALSE(list[1].metric);
  EXPECT_GT(list[1].created_at, 0);
}

TEST_F(StoreTest, EventsAreKeptInOrderPerRun) {
  Store store = Store::Open(db_);
  int64_t a = store.CreateRun(SampleRun("a"));
  int64_t b = store.CreateRun(SampleRun("b"));
  store.AddEvent(a, "info", "calibrating");
  store.AddEvent(b, "warn", "other run");
  store.AddEvent(a, "info", "plateau: widening step");
  std::vector<EventRow> events = store.Events(a);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].message, "calibrating");
  EXPECT_EQ(events[1].message, "plateau: widening step");
  EXPECT_EQ(events[1].level, "info");
  EXPECT_EQ(events[1].run_id, a);
  EXPECT_GT(events[1].at, 0);
}

TEST_F(StoreTest, HardwareIsStoredOncePerFingerprint) {
  Store store = Store::Open(db_);
  HardwareInfo hw = DetectHardware();
  int64_t id = store.UpsertHardware(hw);
  EXPECT_EQ(store.UpsertHardware(hw), id);
  HardwareInfo other = hw;
  other.cores += 1;
  int64_t other_id = store.UpsertHardware(other);
  EXPECT_NE(other_id, id);
  std::optional<HardwareRow> got = store.GetHardware(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->fingerprint, hw.Fingerprint());
  EXPECT_EQ(got->info.cpu_model, hw.cpu_model);
  EXPECT_EQ(got->info.cores, hw.cores);
  EXPECT_EQ(got->info.memory_bytes, hw.memory_bytes);
  EXPECT_EQ(got->info.gpu, hw.gpu);
  EXPECT_EQ(got->info.os, hw.os);
  EXPECT_EQ(got->info.compiler, hw.compiler);
  EXPECT_FALSE(store.GetHardware(other_id + 1));
}

// ---- Queries

TEST_F(StoreTest, UnfinishedExperimentsAreProposedRunningOrEvaluating) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  const ExperimentStatus all[] = {ExperimentStatus::kAccepted,    ExperimentStatus::kProposed,
                                  ExperimentStatus::kRejected,    ExperimentStatus::kRunning,
                                  ExperimentStatus::kInterrupted, ExperimentStatus::kEvaluating,
                                  ExperimentStatus::kDuplicate};
  for (int i = 0; i < 7; ++i) AddFinished(store, run, i, all[i], std::nullopt);
  std::vector<ExperimentRow> open = store.UnfinishedExperiments(run);
  ASSERT_EQ(open.size(), 3u);
  EXPECT_EQ(open[0].seq, 1);
  EXPECT_EQ(open[1].seq, 3);
  EXPECT_EQ(open[2].seq, 5);
}

TEST_F(StoreTest, BestAcceptedIsTheLowestMetricWhenMinimizing) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r", "minimize"));
  EXPECT_FALSE(store.BestAccepted(run));
  AddFinished(store, run, 0, ExperimentStatus::kAccepted, 3.0);
  AddFinished(store, run, 1, ExperimentStatus::kAccepted, 2.0);
  AddFinished(store, run, 2, ExperimentStatus::kRejected, 1.0);  // better, not accepted
  AddFinished(store, run, 3, ExperimentStatus::kAccepted, 2.5);
  AddFinished(store, run, 4, ExperimentStatus::kAccepted, std::nullopt);
  AddFinished(store, run, 5, ExperimentStatus::kAccepted, 2.0);  // tie: earliest wins
  std::optional<ExperimentRow> best = store.BestAccepted(run);
  ASSERT_TRUE(best);
  EXPECT_EQ(best->seq, 1);
}

TEST_F(StoreTest, BestAcceptedIsTheHighestMetricWhenMaximizing) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r", "maximize"));
  AddFinished(store, run, 0, ExperimentStatus::kAccepted, 3.0);
  AddFinished(store, run, 1, ExperimentStatus::kAccepted, 5.0);
  AddFinished(store, run, 2, ExperimentStatus::kCrashed, 9.0);
  AddFinished(store, run, 3, ExperimentStatus::kAccepted, 4.0);
  EXPECT_EQ(store.BestAccepted(run)->seq, 1);
  EXPECT_THAT(ErrorOf([&] { store.BestAccepted(999); }), HasSubstr("run id 999"));
}

TEST_F(StoreTest, ATreeCountsAsEvaluatedOnlyOnceItHasAResult) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  int64_t other = store.CreateRun(SampleRun("other"));
  AddFinished(store, run, 0, ExperimentStatus::kAccepted, 1.0, "t-acc");
  AddFinished(store, run, 1, ExperimentStatus::kRejected, 1.0, "t-rej");
  AddFinished(store, run, 2, ExperimentStatus::kCrashed, std::nullopt, "t-crash");
  AddFinished(store, run, 3, ExperimentStatus::kTimeout, std::nullopt, "t-time");
  AddFinished(store, run, 4, ExperimentStatus::kInterrupted, std::nullopt, "t-int");
  AddFinished(store, run, 5, ExperimentStatus::kInvalid, std::nullopt, "t-inv");
  AddFinished(store, run, 6, ExperimentStatus::kRunning, std::nullopt, "t-run");
  AddFinished(store, run, 7, ExperimentStatus::kDuplicate, std::nullopt, "t-dup");
  AddFinished(store, other, 0, ExperimentStatus::kAccepted, 1.0, "t-other");
  for (const char* t : {"t-acc", "t-rej", "t-crash", "t-time"})
    EXPECT_TRUE(store.TreeEvaluated(run, t)) << t;
  for (const char* t : {"t-int", "t-inv", "t-run", "t-dup", "t-other", "t-none"}) {
    EXPECT_FALSE(store.TreeEvaluated(run, t)) << t;
  }
  EXPECT_EQ(store.FindEvaluatedTree(run, "t-crash"), 2);
}

TEST_F(StoreTest, TheExperimentLogViewJoinsRunsAndExperiments) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("night"));
  AddFinished(store, run, 0, ExperimentStatus::kAccepted, 1.0);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw,
                               "SELECT tag, seq, status, metric, json_extract(params_json, '$.x') "
                               "FROM experiment_log",
                               -1, &st, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(raw);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "night");
  EXPECT_EQ(sqlite3_column_int(st, 1), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 2)), "accepted");
  EXPECT_EQ(sqlite3_column_double(st, 3), 1.0);
  EXPECT_EQ(sqlite3_column_int(st, 4), 2);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

// ---- Transactions and concurrency

TEST_F(StoreTest, AnUncommittedTransactionIsRolledBack) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  {
    Store::Transaction tx(store);
    store.InsertExperiment(SampleExperiment(run, 0));
  }
  EXPECT_TRUE(store.ListExperiments(run).empty());
  {
    Store::Transaction tx(store);
    store.InsertExperiment(SampleExperiment(run, 0));
    tx.Commit();
  }
  EXPECT_EQ(store.ListExperiments(run).size(), 1u);
}

TEST_F(StoreTest, ANestedTransactionRollsBackOnlyItsOwnWrites) {
  Store store = Store::Open(db_);
  int64_t run = store.CreateRun(SampleRun("r"));
  {
    Store::Transaction outer(store);
    store.InsertExperiment(SampleExperiment(run, 0));
    {
      Store::Transaction inner(store);
      store.InsertExperiment(SampleExperiment(run, 1));
    }
    {
      Store::Transaction inner(store);
      store.InsertExperiment(SampleExperiment(run, 2));
      inner.Commit();
    }
    outer.Commit();
  }
  std::vector<ExperimentRow> list = store.ListExperiments(run);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].seq, 0);
  EXPECT_EQ(list[1].seq, 2);
}

TEST_F(StoreTest, AReaderSeesTheLastCommitWhileTheWriterHoldsATransaction) {
  Store writer = Store::Open(db_);
  int64_t run = writer.CreateRun(SampleRun("r"));
  writer.InsertExperiment(SampleExperiment(run, 0));
  Store::Transaction tx(writer);
  writer.InsertExperiment(SampleExperiment(run, 1));

  Store reader = Store::OpenReadOnly(db_);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(reader.ListExperiments(run).size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));  // did not wait

  tx.Commit();
  EXPECT_EQ(reader.ListExperiments(run).size(), 2u);
}

TEST_F(StoreTest, AReaderInAnotherProcessReadsWhileTheWriterHoldsATransaction) {
  // Fork before any SQLite use, so the child inherits no connection state.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: a `ratchet status` of its own, started once the writer holds its
    // transaction. Exit code = experiments seen + 10.
    ::close(go[1]);
    char byte;
    int code = 1;
    if (::read(go[0], &byte, 1) == 1) {
      try {
        Store reader = Store::OpenReadOnly(db_);
        code = 10 + static_cast<int>(reader.ListExperiments(1).size());
      } catch (...) {
        code = 2;
      }
    }
    ::_exit(code);
  }
  ::close(go[0]);
  Store writer = Store::Open(db_);
  int64_t run = writer.CreateRun(SampleRun("r"));
  ASSERT_EQ(run, 1);
  writer.InsertExperiment(SampleExperiment(run, 0));
  Store::Transaction tx(writer);
  writer.InsertExperiment(SampleExperiment(run, 1));
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 11);
  tx.Commit();
}

TEST_F(StoreTest, AMovedStoreKeepsWorking) {
  Store a = Store::Open(db_);
  Store b = std::move(a);
  b.CreateRun(SampleRun("r"));
  Store c = Store::Open(dir_ / "other.db");
  c = std::move(b);
  EXPECT_EQ(c.ListRuns().size(), 1u);
  EXPECT_EQ(c.path(), db_);
}

// ---- Hardware

TEST(HardwareTest, DetectionReturnsSaneValues) {
  HardwareInfo hw = DetectHardware();
  EXPECT_FALSE(hw.cpu_model.empty());
  EXPECT_GE(hw.cores, 1);
  EXPECT_LE(hw.cores, 4096);
  EXPECT_GT(hw.memory_bytes, 64ull << 20);
  EXPECT_FALSE(hw.gpu.empty());  // "none" without an NVIDIA driver
  EXPECT_FALSE(hw.os.empty());
  EXPECT_NE(hw.os, "unknown");
  EXPECT_THAT(hw.compiler, ::testing::AnyOf(HasSubstr("gcc"), HasSubstr("clang")));
  if (!fs::exists("/proc/driver/nvidia/gpus")) {
    EXPECT_EQ(hw.gpu, "none");
  }
}

TEST(HardwareTest, TheFingerprintIsStableAndSeparatesMachines) {
  HardwareInfo hw = DetectHardware();
  std::string fp = hw.Fingerprint();
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(DetectHardware().Fingerprint(), fp);

  HardwareInfo small_change = hw;
  small_change.memory_bytes += 100 << 10;  // a kernel update reserving a little more
  EXPECT_EQ(small_change.Fingerprint(), fp);
  for (auto change : {+[](HardwareInfo& h) { h.cores *= 2; },
                      +[](HardwareInfo& h) { h.memory_bytes += 8ull << 30; },
                      +[](HardwareInfo& h) { h.cpu_model += "x"; },
                      +[](HardwareInfo& h) { h.gpu = "NVIDIA H100"; },
                      +[](HardwareInfo& h) { h.compiler = "clang 99"; }}) {
    HardwareInfo other = hw;
    change(other);
    EXPECT_NE(other.Fingerprint(), fp);
  }
}

TEST(HardwareTest, JsonRoundTripsAndNamesAMissingKey) {
  HardwareInfo hw = DetectHardware();
  nlohmann::json j = hw.ToJson();
  EXPECT_EQ(j["fingerprint"], hw.Fingerprint());
  HardwareInfo back = HardwareInfo::FromJson(j);
  EXPECT_EQ(back.Fingerprint(), hw.Fingerprint());
  EXPECT_EQ(back.memory_bytes, hw.memory_bytes);
  j.erase("cores");
  try {
    HardwareInfo::FromJson(j);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cores"));
  }
}

}  // namespace
}  // namespace ratchet

// The store: one SQLite database per workspace (.ratchet/store.db) holding the
// hardware a run was measured on, the runs, every experiment of a run, every
// measurement of an experiment, and a run's event log.
//
// Durability contract: every write method commits before it returns (SQLite
// autocommit), unless the caller has opened a Store::Transaction, in which
// case the writes commit together at Transaction::Commit(). The loop relies on
// this to record a state change before the action it announces.
//
// Concurrency: the database is in WAL mode, so one writer (the controller,
// guarded by the workspace lock) and any number of readers (`ratchet status`,
// reports, in other processes) work at the same time; a reader sees the last
// committed state and never blocks the writer.
//
// Errors: every SQLite failure becomes a ratchet::Error naming the database
// file and SQLite's message. Schema: versioned by PRAGMA user_version (see
// store_schema.h); a database written by a newer ratchet is refused.
//
// Querying by hand: `sqlite3 .ratchet/store.db 'select * from experiment_log'`
// (the view joins runs and experiments; see store_schema.cc).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ratchet/store/hardware.h"

struct sqlite3;

namespace ratchet {

class StatementCache;

// Life of an experiment. proposed → running → evaluating → one of the final
// statuses. The first three are "unfinished": after a controller crash they
// are reconciled (recorded as interrupted).
enum class ExperimentStatus {
  kProposed,
  kRunning,
  kEvaluating,
  kAccepted,
  kRejected,
  kCrashed,
  kTimeout,
  kInvalid,
  kDuplicate,
  kInterrupted,
};
std::string_view ToString(ExperimentStatus status);
// Throws Error naming the unknown value.
ExperimentStatus ExperimentStatusFromString(std::string_view text);
bool IsUnfinished(ExperimentStatus status);

enum class RunState { kRunning, kStopped, kFinished };
std::string_view ToString(RunState state);
RunState RunStateFromString(std::string_view text);

// Why a measurement was taken. Calibration repeats belong to the baseline
// experiment (seq 0); confirm repeats re-measure a candidate with fresh seeds.
enum class MeasurementRole { kCalibration, kCandidate, kConfirm, kBaseline };
std::string_view ToString(MeasurementRole role);
MeasurementRole MeasurementRoleFromString(std::string_view text);

// Outcome of one seeded train+evaluate.
enum class MeasurementStatus { kOk, kCrashed, kTimeout, kInvalid, kInterrupted };
std::string_view ToString(MeasurementStatus status);
MeasurementStatus MeasurementStatusFromString(std::string_view text);

// Seconds since the UNIX epoch (wall clock), the unit of every time column.
double NowSeconds();

// One row of `runs`. Strings holding JSON are stored as SQLite JSON text
// (checked with json_valid), so json_extract() works in queries.
struct RunRow {
  int64_t id = 0;   // assigned by CreateRun
  std::string uid;  // random 32 hex, stable across export/import; CreateRun fills it if empty
  std::string tag;  // unique within a store
  std::string spec_name;
  std::string spec_json = "{}";  // the spec as resolved at run start
  std::string spec_sha256;
  std::string workspace;
  std::string baseline_commit;
  std::optional<std::string> best_commit;
  std::optional<int64_t> hardware_id;
  std::string budget_kind;   // "time" | "tokens"
  double budget_amount = 0;  // seconds or tokens
  std::string metric_name;
  std::string goal = "minimize";   // "minimize" | "maximize"
  std::string pins_json = "{}";    // Pins::ToJson()
  std::string pins_digest;         // Pins::Digest(): runs with different digests are not comparable
  std::optional<double> noise_sd;  // from the calibration repeats
  std::optional<double> baseline_metric;
  RunState state = RunState::kRunning;
  double started_at = 0;  // 0: CreateRun uses now
  double updated_at = 0;  // maintained by the store on every run write
  std::optional<double> ended_at;
};

// One row of `experiments`. Seq 0 of a run is the baseline.
struct ExperimentRow {
  int64_t id = 0;  // assigned by InsertExperiment
  int64_t run_id = 0;
  int64_t seq = 0;                    // unique within the run
  std::string parent_commit;          // the best commit it was built on
  std::optional<std::string> commit;  // known once the mutation is committed
  std::optional<std::string> tree;    // git tree id, for duplicate detection
  std::string proposer;
  std::string description;
  std::string params_json = "{}";
  std::optional<std::string> diff_stat;
  ExperimentStatus status = ExperimentStatus::kProposed;
  std::string phase;  // free text for `status`: "apply", "train", "evaluate", "confirm 2/3"…
  std::optional<double>
      metric;  // the decided metric (mean of the measurements used); NaN reads back as nullopt
  std::optional<double> spread;  // their standard deviation
  int64_t n_measurements = 0;
  double started_at = 0;  // 0: InsertExperiment uses now
  std::optional<double> ended_at;
  std::optional<double> train_seconds;
  std::optional<int64_t> tokens;
  std::optional<int64_t> peak_rss_kb;
  std::optional<int> exit_code;
  std::optional<int> term_signal;
  std::optional<std::string> reason;  // why crashed/invalid/duplicate…, one line
  std::optional<std::string> log_tail;
  std::optional<std::string> decision_json;  // the acceptance decision, JSON
  std::optional<int64_t> pgid;  // child process group while running, for reconciliation
  std::optional<std::string> job_id;  // its Slurm job while one runs, for reconciliation
};

// One row of `measurements`: one seeded train+evaluate of an experiment.
struct MeasurementRow {
  int64_t id = 0;  // assigned by AddMeasurement
  int64_t experiment_id = 0;
  int64_t repeat = 0;  // 0-based within (experiment, role)
  int64_t seed = 0;
  MeasurementRole role = MeasurementRole::kCandidate;
  MeasurementStatus status = MeasurementStatus::kOk;
  std::optional<double> metric;
  std::optional<double> train_seconds;
  std::optional<double> eval_seconds;
  std::optional<int64_t> tokens;
  std::optional<int64_t> peak_rss_kb;
  std::optional<int> exit_code;
  std::optional<int> term_signal;
  std::optional<std::string> extra_json;  // other metrics the evaluator printed
  double created_at = 0;                  // 0: AddMeasurement uses now
  std::optional<std::string> host;        // the machine or Slurm node it ran on
  std::optional<std::string> job_id;      // the Slurm job(s) of its train and evaluate
  std::optional<double> started_at, ended_at;  // UNIX seconds
  std::optional<std::string> hardware;    // HardwareInfo::Fingerprint of where it ran
};

// One row of `events`: a run's log line ("plateau: widening step").
struct EventRow {
  int64_t id = 0;
  int64_t run_id = 0;
  double at = 0;
  std::string level;  // "debug" | "info" | "warn" | "error"
  std::string message;
};

// One row of `exchanges`: the prompt an agent or LLM proposer was given for
// an experiment and its raw reply ("" when it gave none).
struct ExchangeRow {
  std::string prompt;
  std::string reply;
};

// A stored hardware row (HardwareInfo plus its id and fingerprint).
struct HardwareRow {
  int64_t id = 0;
  std::string fingerprint;
  HardwareInfo info;
};

// What a committed write survives.
enum class Durability {
  // A crash of the controller (SIGKILL, OOM kill, panic): SQLite's WAL with
  // synchronous=NORMAL. A power cut may forget the last commits but never
  // corrupts the store. About 0.01 ms per commit.
  kProcessCrash,
  // Also a power cut (synchronous=FULL: one fsync per commit, 0.2 to 8 ms on
  // the reference VM depending on disk load; ten of those per experiment
  // would eat the loop's 20 ms overhead budget).
  kPowerLoss,
};

struct StoreOptions {
  Durability durability = Durability::kProcessCrash;
};

class Store {
 public:
  // Opens (creating if absent) and migrates the database to the latest
  // schema. Throws Error if the file is not a ratchet store or was written by
  // a newer schema version.
  static Store Open(const std::filesystem::path& path, const StoreOptions& options = {});
  // For readers in other processes: never writes, never migrates. Throws if
  // the file is missing, not a ratchet store, or its schema version differs
  // from this build's (open it read-write once to migrate an older one).
  static Store OpenReadOnly(const std::filesystem::path& path);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  Store(Store&& other) noexcept;
  Store& operator=(Store&& other) noexcept;
  ~Store();

  // Groups writes into one atomic commit. Destroying it without Commit()
  // rolls back. Nests (inner ones are savepoints). The outermost one takes
  // the write lock at once (BEGIN IMMEDIATE), so it never fails half-way on
  // a busy database.
  class Transaction {
   public:
    explicit Transaction(Store& store);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void Commit();

   private:
    Store& store_;
    std::string savepoint_;  // empty for the outermost transaction
    bool done_ = false;
  };

  const std::filesystem::path& path() const { return path_; }
  int SchemaVersion() const;

  // Hardware: returns the id of the row with info.Fingerprint(), inserting it if new.
  int64_t UpsertHardware(const HardwareInfo& info);
  std::optional<HardwareRow> GetHardware(int64_t id) const;

  // Runs. CreateRun throws Error if the tag exists.
  int64_t CreateRun(const RunRow& run);
  std::optional<RunRow> FindRun(const std::string& tag) const;
  std::optional<RunRow> GetRun(int64_t run_id) const;
  std::vector<RunRow> ListRuns() const;  // by id
  // Writes every column of the row with run.id (updated_at = now).
  // REQUIRES: the run exists (else throws).
  void UpdateRun(const RunRow& run);
  void SetRunState(int64_t run_id, RunState state);  // also sets ended_at when not running
  void SetBestCommit(int64_t run_id, const std::string& commit);
  void SetNoise(int64_t run_id, double noise_sd, double baseline_metric);

  // Experiments. InsertExperiment throws Error if (run_id, seq) exists.
  int64_t InsertExperiment(const ExperimentRow& experiment);
  // Writes every column of the row with experiment.id. REQUIRES: it exists.
  void UpdateExperiment(const ExperimentRow& experiment);
  std::optional<ExperimentRow> GetExperiment(int64_t run_id, int64_t seq) const;
  std::vector<ExperimentRow> ListExperiments(int64_t run_id) const;  // by seq
  int64_t NextSeq(int64_t run_id) const;  // 0 for a run without experiments
  // Status proposed, running or evaluating, by seq.
  std::vector<ExperimentRow> UnfinishedExperiments(int64_t run_id) const;
  // The accepted experiment with the best metric for the run's goal (ties:
  // the earliest seq). The baseline counts when recorded as accepted.
  std::optional<ExperimentRow> BestAccepted(int64_t run_id) const;
  // The seq of an experiment of the run with this tree that was evaluated
  // (accepted, rejected, crashed or timeout), if any.
  std::optional<int64_t> FindEvaluatedTree(int64_t run_id, const std::string& tree) const;
  bool TreeEvaluated(int64_t run_id, const std::string& tree) const {
    return FindEvaluatedTree(run_id, tree).has_value();
  }

  // Measurements. ListMeasurements orders them calibration, baseline,
  // candidate, confirm, then by repeat.
  int64_t AddMeasurement(const MeasurementRow& measurement);
  std::vector<MeasurementRow> ListMeasurements(int64_t experiment_id) const;

  // Proposer exchanges: one per experiment at most; Set replaces.
  void SetExchange(int64_t experiment_id, std::string_view prompt, std::string_view reply);
  std::optional<ExchangeRow> GetExchange(int64_t experiment_id) const;

  // Events, oldest first.
  void AddEvent(int64_t run_id, std::string_view level, std::string_view message);
  std::vector<EventRow> Events(int64_t run_id) const;

  // Runs one SQL script (for tests and maintenance); errors name the file.
  void Exec(std::string_view sql);

 private:
  Store(sqlite3* db, std::filesystem::path path);

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  int savepoint_counter_ = 0;
  std::unique_ptr<StatementCache> statements_;  // of the per-experiment queries
};

}  // namespace ratchet

#include "ratchet/store/store.h"

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <random>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "ratchet/store/store_schema.h"

namespace ratchet {
namespace {

// Waiting this long for a lock held by another connection covers a writer's
// checkpoint or a reader's snapshot; beyond it something is wrong and the
// error should say so rather than hang.
constexpr int kBusyTimeoutMs = 10000;

// The one place where SQLite errors become ratchet::Error.
[[noreturn]] void ThrowSqlite(sqlite3* db, const std::filesystem::path& file,
                              std::string_view what) {
  std::string message = db ? sqlite3_errmsg(db) : "out of memory";
  throw Error(file.string() + ": " + std::string(what) + ": " + message);
}

void Check(int rc, sqlite3* db, const std::filesystem::path& file, std::string_view what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) ThrowSqlite(db, file, what);
}

void ExecSql(sqlite3* db, const std::filesystem::path& file, std::string_view sql,
             std::string_view what) {
  Check(sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, nullptr), db, file, what);
}

}  // namespace

// Prepared statements of the queries every experiment runs, kept for the
// connection's life: preparing one costs more than running it (~50 us).
class StatementCache {
 public:
  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() {
    for (auto& [sql, entry] : entries_) sqlite3_finalize(entry.stmt);
  }
  // The kept statement for `sql` if it is idle, else nullptr (prepare one).
  sqlite3_stmt* Take(const std::string& sql) {
    auto it = entries_.find(sql);
    if (it == entries_.end() || it->second.in_use) return nullptr;
    it->second.in_use = true;
    return it->second.stmt;
  }
  // Resets a statement after use and keeps it; finalizes a second one for
  // the same sql (a nested use).
  void Give(const std::string& sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    auto [it, inserted] = entries_.try_emplace(sql, Entry{stmt, false});
    if (inserted) return;
    if (it->second.stmt == stmt) {
      it->second.in_use = false;
    } else {
      sqlite3_finalize(stmt);
    }
  }

 private:
  struct Entry {
    sqlite3_stmt* stmt;
    bool in_use;
  };
  std::unordered_map<std::string, Entry> entries_;
};

namespace {

// A prepared statement. Bind() fills parameters left to right; Step()
// returns true while rows come. Finalized on destruction, or handed back to
// the cache it came from.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::filesystem::path& file, std::string_view sql)
      : db_(db), file_(file), sql_(sql) {
    Check(sqlite3_prepare_v2(db, sql_.data(), static_cast<int>(sql_.size()), &stmt_, nullptr), db_,
          file_, "prepare");
  }
  Stmt(StatementCache& cache, sqlite3* db, const std::filesystem::path& file, std::string sql)
      : db_(db), file_(file), sql_(std::move(sql)), cache_(&cache) {
    stmt_ = cache.Take(sql_);
    if (stmt_ == nullptr) {
      Check(sqlite3_prepare_v3(db, sql_.data(), static_cast<int>(sql_.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr),
            db_, file_, "prepare");
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (cache_ != nullptr && stmt_ != nullptr) {
      cache_->Give(sql_, stmt_);
    } else {
      sqlite3_finalize(stmt_);
    }
  }

  Stmt& Bind(int64_t v) { return Done(sqlite3_bind_int64(stmt_, ++index_, v)); }
  Stmt& Bind(int v) { return Bind(static_cast<int64_t>(v)); }
  Stmt& Bind(double v) { return Done(sqlite3_bind_double(stmt_, ++index_, v)); }
  Stmt& Bind(std::string_view v) {
    return Done(
        sqlite3_bind_text64(stmt_, ++index_, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Stmt& Bind(const std::string& v) { return Bind(std::string_view(v)); }
  Stmt& Bind(const char* v) { return Bind(std::string_view(v)); }
  template <typename T>
  Stmt& Bind(const std::optional<T>& v) {
    if (v) return Bind(*v);
    return Done(sqlite3_bind_null(stmt_, ++index_));
  }

  bool Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    ThrowSqlite(db_, file_, Abbreviated());
  }
  // Runs a statement that returns no rows.
  void Run() {
    while (Step()) {
    }
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }
  std::optional<int64_t> OptInt(int col) const {
    return IsNull(col) ? std::nullopt : std::optional(Int(col));
  }
  std::optional<int> OptInt32(int col) const {
    return IsNull(col) ? std::nullopt : std::optional(static_cast<int>(Int(col)));
  }
  std::optional<double> OptReal(int col) const {
    return IsNull(col) ? std::nullopt : std::optional(Real(col));
  }
  std::optional<std::string> OptText(int col) const {
    return IsNull(col) ? std::nullopt : std::optional(Text(col));
  }

 private:
  Stmt& Done(int rc) {
    Check(rc, db_, file_, "bind");
    return *this;
  }
  // "INSERT INTO runs …" names the failing statement without flooding the message.
  std::string Abbreviated() const {
    std::string s = sql_.substr(0, sql_.find_first_of("(\n"));
    if (s.size() > 48) s.resize(48);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }

  sqlite3* db_;
  const std::filesystem::path& file_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  StatementCache* cache_ = nullptr;
  int index_ = 0;
};

int64_t PragmaInt(sqlite3* db, const std::filesystem::path& file, const char* name) {
  Stmt s(db, file, std::string("PRAGMA ") + name);
  if (!s.Step()) throw Error(file.string() + ": PRAGMA " + name + " returned nothing");
  return s.Int(0);
}

// Refuses files that are not ratchet stores and schemas from the future.
// Returns the schema version found.
int CheckIdentity(sqlite3* db, const std::filesystem::path& file) {
  int64_t app = PragmaInt(db, file, "application_id");
  int64_t version = PragmaInt(db, file, "user_version");
  Stmt tables(db, file, "SELECT count(*) FROM sqlite_master");
  tables.Step();
  bool empty = tables.Int(0) == 0;
  if ((app != 0 && app != kStoreApplicationId) || (app == 0 && !empty)) {
    throw Error(file.string() +
                ": not a ratchet store (a SQLite database written by something else)");
  }
  if (version > kStoreSchemaVersion) {
    throw Error(file.string() + ": store schema version " + std::to_string(version) +
                " is newer than this ratchet knows (" + std::to_string(kStoreSchemaVersion) +
                "); use a newer ratchet");
  }
  return static_cast<int>(version);
}

void Migrate(sqlite3* db, const std::filesystem::path& file) {
  // IMMEDIATE: two processes opening a fresh store at once serialize here,
  // and the second one sees the version the first one wrote.
  ExecSql(db, file, "BEGIN IMMEDIATE", "begin migration");
  try {
    int version = CheckIdentity(db, file);
    auto migrations = StoreMigrations();
    for (int v = version; v < kStoreSchemaVersion; ++v) {
      ExecSql(db, file, migrations[static_cast<size_t>(v)],
              "migrate schema to version " + std::to_string(v + 1));
    }
    if (version < kStoreSchemaVersion) {
      ExecSql(db, file,
              "PRAGMA application_id = " + std::to_string(kStoreApplicationId) +
                  "; PRAGMA user_version = " + std::to_string(kStoreSchemaVersion),
              "set schema version");
    }
    ExecSql(db, file, "COMMIT", "commit migration");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

sqlite3* OpenConnection(const std::filesystem::path& file, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    throw Error(file.string() + ": cannot open store: " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return db;
}

std::string RandomUid() {
  std::random_device rd;
  std::string out;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 8; ++j, v >>= 4) out += hex[v & 0xf];
  }
  return out;
}

// ---- Row mapping. Column lists are written once and shared by SELECT,
// INSERT and UPDATE so they cannot drift apart.

template <size_t N>
std::string Join(const std::array<const char*, N>& cols, size_t from, const char* suffix) {
  std::string out;
  for (size_t i = from; i < N; ++i) {
    if (!out.empty()) out += ", ";
    out += cols[i];
    out += suffix;
  }
  return out;
}

template <size_t N>
std::string InsertSql(const char* table, const std::array<const char*, N>& cols) {
  std::string marks;
  for (size_t i = 1; i < N; ++i) marks += i == 1 ? "?" : ", ?";
  return std::string("INSERT INTO ") + table + " (" + Join(cols, 1, "") + ") VALUES (" + marks +
         ")";
}

template <size_t N>
std::string UpdateSql(const char* table, const std::array<const char*, N>& cols) {
  return std::string("UPDATE ") + table + " SET " + Join(cols, 1, " = ?") + " WHERE id = ?";
}

template <size_t N>
std::string SelectSql(const char* table, const std::array<const char*, N>& cols,
                      std::string_view rest) {
  return std::string("SELECT ") + Join(cols, 0, "") + " FROM " + table + " " + std::string(rest);
}

constexpr std::array<const char*, 22> kRunCols = {
    "id",          "uid",
    "tag",         "spec_name",
    "spec_json",   "spec_sha256",
    "workspace",   "baseline_commit",
    "best_commit", "hardware_id",
    "budget_kind", "budget_amount",
    "metric_name", "goal",
    "pins_json",   "pins_digest",
    "noise_sd",    "baseline_metric",
    "state",       "started_at",
    "updated_at",  "ended_at",
};

void BindRun(Stmt& s, const RunRow& r) {
  s.Bind(r.uid)
      .Bind(r.tag)
      .Bind(r.spec_name)
      .Bind(r.spec_json)
      .Bind(r.spec_sha256)
      .Bind(r.workspace)
      .Bind(r.baseline_commit)
      .Bind(r.best_commit)
      .Bind(r.hardware_id)
      .Bind(r.budget_kind)
      .Bind(r.budget_amount)
      .Bind(r.metric_name)
      .Bind(r.goal)
      .Bind(r.pins_json)
      .Bind(r.pins_digest)
      .Bind(r.noise_sd)
      .Bind(r.baseline_metric)
      .Bind(ToString(r.state))
      .Bind(r.started_at)
      .Bind(r.updated_at)
      .Bind(r.ended_at);
}

RunRow ReadRun(const Stmt& s) {
  RunRow r;
  int c = 0;
  r.id = s.Int(c++);
  r.uid = s.Text(c++);
  r.tag = s.Text(c++);
  r.spec_name = s.Text(c++);
  r.spec_json = s.Text(c++);
  r.spec_sha256 = s.Text(c++);
  r.workspace = s.Text(c++);
  r.baseline_commit = s.Text(c++);
  r.best_commit = s.OptText(c++);
  r.hardware_id = s.OptInt(c++);
  r.budget_kind = s.Text(c++);
  r.budget_amount = s.Real(c++);
  r.metric_name = s.Text(c++);
  r.goal = s.Text(c++);
  r.pins_json = s.Text(c++);
  r.pins_digest = s.Text(c++);
  r.noise_sd = s.OptReal(c++);
  r.baseline_metric = s.OptReal(c++);
  r.state = RunStateFromString(s.Text(c++));
  r.started_at = s.Real(c++);
  r.updated_at = s.Real(c++);
  r.ended_at = s.OptReal(c++);
  return r;
}

constexpr std::array<const char*, 27> kExperimentCols = {
    "id",         "run_id",      "seq",           "parent_commit", "\"commit\"",
    "tree",       "proposer",    "description",   "params_json",   "diff_stat",
    "status",     "phase",       "metric",        "spread",        "n_measurements",
    "started_at", "ended_at",    "train_seconds", "tokens",        "peak_rss_kb",
    "exit_code",  "term_signal", "reason",        "log_tail",      "decision_json",
    "pgid",       "job_id",
};

void BindExperiment(Stmt& s, const ExperimentRow& e) {
  s.Bind(e.run_id)
      .Bind(e.seq)
      .Bind(e.parent_commit)
      .Bind(e.commit)
      .Bind(e.tree)
      .Bind(e.proposer)
      .Bind(e.description)
      .Bind(e.params_json)
      .Bind(e.diff_stat)
      .Bind(ToString(e.status))
      .Bind(e.phase)
      .Bind(e.metric)
      .Bind(e.spread)
      .Bind(e.n_measurements)
      .Bind(e.started_at)
      .Bind(e.ended_at)
      .Bind(e.train_seconds)
      .Bind(e.tokens)
      .Bind(e.peak_rss_kb)
      .Bind(e.exit_code)
      .Bind(e.term_signal)
      .Bind(e.reason)
      .Bind(e.log_tail)
      .Bind(e.decision_json)
      .Bind(e.pgid)
      .Bind(e.job_id);
}

ExperimentRow ReadExperiment(const Stmt& s) {
  ExperimentRow e;
  int c = 0;
  e.id = s.Int(c++);
  e.run_id = s.Int(c++);
  e.seq = s.Int(c++);
  e.parent_commit = s.Text(c++);
  e.commit = s.OptText(c++);
  e.tree = s.OptText(c++);
  e.proposer = s.Text(c++);
  e.description = s.Text(c++);
  e.params_json = s.Text(c++);
  e.diff_stat = s.OptText(c++);
  e.status = ExperimentStatusFromString(s.Text(c++));
  e.phase = s.Text(c++);
  e.metric = s.OptReal(c++);
  e.spread = s.OptReal(c++);
  e.n_measurements = s.Int(c++);
  e.started_at = s.Real(c++);
  e.ended_at = s.OptReal(c++);
  e.train_seconds = s.OptReal(c++);
  e.tokens = s.OptInt(c++);
  e.peak_rss_kb = s.OptInt(c++);
  e.exit_code = s.OptInt32(c++);
  e.term_signal = s.OptInt32(c++);
  e.reason = s.OptText(c++);
  e.log_tail = s.OptText(c++);
  e.decision_json = s.OptText(c++);
  e.pgid = s.OptInt(c++);
  e.job_id = s.OptText(c++);
  return e;
}

constexpr std::array<const char*, 20> kMeasurementCols = {
    "id",          "experiment_id", "repeat",        "seed",         "role",
    "status",      "metric",        "train_seconds", "eval_seconds", "tokens",
    "peak_rss_kb", "exit_code",     "term_signal",   "extra_json",   "created_at",
    "host",        "job_id",        "started_at",    "ended_at",     "hardware",
};

MeasurementRow ReadMeasurement(const Stmt& s) {
  MeasurementRow m;
  int c = 0;
  m.id = s.Int(c++);
  m.experiment_id = s.Int(c++);
  m.repeat = s.Int(c++);
  m.seed = s.Int(c++);
  m.role = MeasurementRoleFromString(s.Text(c++));
  m.status = MeasurementStatusFromString(s.Text(c++));
  m.metric = s.OptReal(c++);
  m.train_seconds = s.OptReal(c++);
  m.eval_seconds = s.OptReal(c++);
  m.tokens = s.OptInt(c++);
  m.peak_rss_kb = s.OptInt(c++);
  m.exit_code = s.OptInt32(c++);
  m.term_signal = s.OptInt32(c++);
  m.extra_json = s.OptText(c++);
  m.created_at = s.Real(c++);
  m.host = s.OptText(c++);
  m.job_id = s.OptText(c++);
  m.started_at = s.OptReal(c++);
  m.ended_at = s.OptReal(c++);
  m.hardware = s.OptText(c++);
  return m;
}

// Enum names, indexed by the enum's value.
constexpr std::array<std::string_view, 10> kStatusNames = {
    "proposed", "running", "evaluating", "accepted",  "rejected",
    "crashed",  "timeout", "invalid",    "duplicate", "interrupted"};
constexpr std::array<std::string_view, 3> kRunStateNames = {"running", "stopped", "finished"};
constexpr std::array<std::string_view, 4> kRoleNames = {"calibration", "candidate", "confirm",
                                                        "baseline"};
constexpr std::array<std::string_view, 5> kMeasurementStatusNames = {"ok", "crashed", "timeout",
                                                                     "invalid", "interrupted"};

template <typename E, size_t N>
E FromName(const std::array<std::string_view, N>& names, std::string_view text, const char* kind) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  std::string known;
  for (auto n : names) known += (known.empty() ? "" : ", ") + std::string(n);
  throw Error(std::string("unknown ") + kind + " \"" + std::string(text) + "\" (known: " + known +
              ")");
}

}  // namespace

// ---- Enums

std::string_view ToString(ExperimentStatus s) { return kStatusNames[static_cast<size_t>(s)]; }
ExperimentStatus ExperimentStatusFromString(std::string_view t) {
  return FromName<ExperimentStatus>(kStatusNames, t, "experiment status");
}
bool IsUnfinished(ExperimentStatus s) {
  return s == ExperimentStatus::kProposed || s == ExperimentStatus::kRunning ||
         s == ExperimentStatus::kEvaluating;
}
std::string_view ToString(RunState s) { return kRunStateNames[static_cast<size_t>(s)]; }
RunState RunStateFromString(std::string_view t) {
  return FromName<RunState>(kRunStateNames, t, "run state");
}
std::string_view ToString(MeasurementRole r) { return kRoleNames[static_cast<size_t>(r)]; }
MeasurementRole MeasurementRoleFromString(std::string_view t) {
  return FromName<MeasurementRole>(kRoleNames, t, "measurement role");
}
std::string_view ToString(MeasurementStatus s) {
  return kMeasurementStatusNames[static_cast<size_t>(s)];
}
MeasurementStatus MeasurementStatusFromString(std::string_view t) {
  return FromName<MeasurementStatus>(kMeasurementStatusNames, t, "measurement status");
}

double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// ---- Opening

Store::Store(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)), statements_(std::make_unique<StatementCache>()) {}

Store::Store(Store&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      savepoint_counter_(other.savepoint_counter_),
      statements_(std::move(other.statements_)) {}

Store& Store::operator=(Store&& other) noexcept {
  if (this != &other) {
    statements_.reset();  // finalized before their connection closes
    sqlite3_close_v2(db_);
    statements_ = std::move(other.statements_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    savepoint_counter_ = other.savepoint_counter_;
  }
  return *this;
}

Store::~Store() {
  statements_.reset();
  sqlite3_close_v2(db_);
}

Store Store::Open(const std::filesystem::path& path, const StoreOptions& options) {
  Store store(OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), path);
  sqlite3* db = store.db_;
  CheckIdentity(db, path);  // before touching the journal mode of a foreign file
  {
    Stmt wal(db, path, "PRAGMA journal_mode = WAL");
    if (!wal.Step() || wal.Text(0) != "wal") {
      throw Error(path.string() + ": cannot switch the store to WAL mode (got \"" + wal.Text(0) +
                  "\"); is it on a network filesystem?");
    }
  }
  // The default, NORMAL in WAL mode, makes a commit durable against a crash
  // of the controller (the commit is in the OS's page cache when it returns;
  // the kill-and-resume invariant needs no more) without an fsync per write:
  // at FULL each of the ~10 commits of an experiment costs an fsync (0.2 to
  // 8 ms on the reference VM under load), which could exceed the 20 ms
  // overhead target on its own.
  // libgit2 does not fsync refs either, and resume reconciles the two.
  std::string pragmas = options.durability == Durability::kPowerLoss
                            ? "PRAGMA synchronous = FULL; "
                            : "PRAGMA synchronous = NORMAL; ";
  ExecSql(db, path, pragmas + "PRAGMA foreign_keys = ON", "set pragmas");
  Migrate(db, path);
  return store;
}

Store Store::OpenReadOnly(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(path.string() + ": no store here (no run has been started in this workspace)");
  }
  Store store(OpenConnection(path, SQLITE_OPEN_READONLY), path);
  int version = CheckIdentity(store.db_, path);
  if (version != kStoreSchemaVersion) {
    throw Error(path.string() + ": store schema version " + std::to_string(version) +
                " is older than this ratchet's (" + std::to_string(kStoreSchemaVersion) +
                "); run any writing command (e.g. ratchet run) once to migrate it");
  }
  ExecSql(store.db_, path, "PRAGMA query_only = ON", "set pragmas");
  return store;
}

int Store::SchemaVersion() const { return static_cast<int>(PragmaInt(db_, path_, "user_version")); }

void Store::Exec(std::string_view sql) { ExecSql(db_, path_, sql, "exec"); }

// ---- Transactions

Store::Transaction::Transaction(Store& store) : store_(store) {
  if (sqlite3_get_autocommit(store_.db_)) {
    ExecSql(store_.db_, store_.path_, "BEGIN IMMEDIATE", "begin transaction");
  } else {
    savepoint_ = "ratchet_sp" + std::to_string(++store_.savepoint_counter_);
    ExecSql(store_.db_, store_.path_, "SAVEPOINT " + savepoint_, "begin savepoint");
  }
}

void Store::Transaction::Commit() {
  if (done_) throw Error(store_.path_.string() + ": transaction committed twice");
  ExecSql(store_.db_, store_.path_, savepoint_.empty() ? "COMMIT" : "RELEASE " + savepoint_,
          "commit");
  done_ = true;
}

Store::Transaction::~Transaction() {
  if (done_) return;
  // A destructor cannot throw; if the rollback itself fails the connection
  // is broken and the next statement reports it.
  std::string sql = savepoint_.empty() ? std::string("ROLLBACK")
                                       : "ROLLBACK TO " + savepoint_ + "; RELEASE " + savepoint_;
  sqlite3_exec(store_.db_, sql.c_str(), nullptr, nullptr, nullptr);
}

// ---- Hardware

int64_t Store::UpsertHardware(const HardwareInfo& info) {
  // The no-op update makes RETURNING yield the existing row's id too.
  Stmt s(db_, path_,
         "INSERT INTO hardware (fingerprint, cpu_model, cores, memory_bytes, gpu, os, compiler, "
         "json) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET "
         "fingerprint = excluded.fingerprint RETURNING id");
  s.Bind(info.Fingerprint())
      .Bind(info.cpu_model)
      .Bind(info.cores)
      .Bind(static_cast<int64_t>(info.memory_bytes))
      .Bind(info.gpu)
      .Bind(info.os)
      .Bind(info.compiler)
      .Bind(info.ToJson().dump());
  if (!s.Step()) throw Error(path_.string() + ": upsert hardware returned no id");
  int64_t id = s.Int(0);
  s.Run();
  return id;
}

std::optional<HardwareRow> Store::GetHardware(int64_t id) const {
  Stmt s(db_, path_,
         "SELECT id, fingerprint, cpu_model, cores, memory_bytes, gpu, os, compiler FROM hardware "
         "WHERE id = ?");
  s.Bind(id);
  if (!s.Step()) return std::nullopt;
  HardwareRow row;
  row.id = s.Int(0);
  row.fingerprint = s.Text(1);
  row.info.cpu_model = s.Text(2);
  row.info.cores = static_cast<int>(s.Int(3));
  row.info.memory_bytes = static_cast<uint64_t>(s.Int(4));
  row.info.gpu = s.Text(5);
  row.info.os = s.Text(6);
  row.info.compiler = s.Text(7);
  return row;
}

// ---- Runs

int64_t Store::CreateRun(const RunRow& run) {
  RunRow r = run;
  if (r.uid.empty()) r.uid = RandomUid();
  if (r.started_at == 0) r.started_at = NowSeconds();
  r.updated_at = r.started_at;
  if (FindRun(r.tag)) {
    throw Error(path_.string() + ": a run tagged \"" + r.tag + "\" already exists");
  }
  Stmt s(db_, path_, InsertSql("runs", kRunCols));
  BindRun(s, r);
  s.Run();
  return sqlite3_last_insert_rowid(db_);
}

std::optional<RunRow> Store::FindRun(const std::string& tag) const {
  Stmt s(db_, path_, SelectSql("runs", kRunCols, "WHERE tag = ?"));
  s.Bind(tag);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::optional<RunRow> Store::GetRun(int64_t run_id) const {
  Stmt s(*statements_, db_, path_, SelectSql("runs", kRunCols, "WHERE id = ?"));
  s.Bind(run_id);
  if (!s.Step()) return std::nullopt;
  return ReadRun(s);
}

std::vector<RunRow> Store::ListRuns() const {
  Stmt s(db_, path_, SelectSql("runs", kRunCols, "ORDER BY id"));
  std::vector<RunRow> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

namespace {
void RequireChanged(sqlite3* db, const std::filesystem::path& file, const char* what, int64_t id) {
  if (sqlite3_changes(db) == 0) {
    throw Error(file.string() + ": " + what + " id " + std::to_string(id) + " does not exist");
  }
}
}  // namespace

void Store::UpdateRun(const RunRow& run) {
  RunRow r = run;
  r.updated_at = NowSeconds();
  Stmt s(db_, path_, UpdateSql("runs", kRunCols));
  BindRun(s, r);
  s.Bind(r.id);
  s.Run();
  RequireChanged(db_, path_, "run", r.id);
}

void Store::SetRunState(int64_t run_id, RunState state) {
  double now = NowSeconds();
  Stmt s(db_, path_, "UPDATE runs SET state = ?, updated_at = ?, ended_at = ? WHERE id = ?");
  s.Bind(ToString(state)).Bind(now);
  s.Bind(state == RunState::kRunning ? std::nullopt : std::optional(now)).Bind(run_id);
  s.Run();
  RequireChanged(db_, path_, "run", run_id);
}

void Store::SetBestCommit(int64_t run_id, const std::string& commit) {
  Stmt s(db_, path_, "UPDATE runs SET best_commit = ?, updated_at = ? WHERE id = ?");
  s.Bind(commit).Bind(NowSeconds()).Bind(run_id);
  s.Run();
  RequireChanged(db_, path_, "run", run_id);
}

void Store::SetNoise(int64_t run_id, double noise_sd, double baseline_metric) {
  Stmt s(db_, path_,
         "UPDATE runs SET noise_sd = ?, baseline_metric = ?, updated_at = ? WHERE id = ?");
  s.Bind(noise_sd).Bind(baseline_metric).Bind(NowSeconds()).Bind(run_id);
  s.Run();
  RequireChanged(db_, path_, "run", run_id);
}

// ---- Experiments

int64_t Store::InsertExperiment(const ExperimentRow& experiment) {
  ExperimentRow e = experiment;
  if (e.started_at == 0) e.started_at = NowSeconds();
  Stmt s(*statements_, db_, path_, InsertSql("experiments", kExperimentCols));
  BindExperiment(s, e);
  s.Run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::UpdateExperiment(const ExperimentRow& experiment) {
  Stmt s(*statements_, db_, path_, UpdateSql("experiments", kExperimentCols));
  BindExperiment(s, experiment);
  s.Bind(experiment.id);
  s.Run();
  RequireChanged(db_, path_, "experiment", experiment.id);
}

std::optional<ExperimentRow> Store::GetExperiment(int64_t run_id, int64_t seq) const {
  Stmt s(*statements_, db_, path_, SelectSql("experiments", kExperimentCols, "WHERE run_id = ? AND seq = ?"));
  s.Bind(run_id).Bind(seq);
  if (!s.Step()) return std::nullopt;
  return ReadExperiment(s);
}

std::vector<ExperimentRow> Store::ListExperiments(int64_t run_id) const {
  Stmt s(db_, path_, SelectSql("experiments", kExperimentCols, "WHERE run_id = ? ORDER BY seq"));
  s.Bind(run_id);
  std::vector<ExperimentRow> out;
  while (s.Step()) out.push_back(ReadExperiment(s));
  return out;
}

int64_t Store::NextSeq(int64_t run_id) const {
  Stmt s(*statements_, db_, path_, "SELECT COALESCE(MAX(seq) + 1, 0) FROM experiments WHERE run_id = ?");
  s.Bind(run_id);
  s.Step();
  return s.Int(0);
}

std::vector<ExperimentRow> Store::UnfinishedExperiments(int64_t run_id) const {
  Stmt s(db_, path_,
         SelectSql("experiments", kExperimentCols,
                   "WHERE run_id = ? AND status IN ('proposed', 'running', 'evaluating') "
                   "ORDER BY seq"));
  s.Bind(run_id);
  std::vector<ExperimentRow> out;
  while (s.Step()) out.push_back(ReadExperiment(s));
  return out;
}

std::optional<ExperimentRow> Store::BestAccepted(int64_t run_id) const {
  std::optional<RunRow> run = GetRun(run_id);
  if (!run) throw Error(path_.string() + ": run id " + std::to_string(run_id) + " does not exist");
  const char* order = run->goal == "maximize" ? "DESC" : "ASC";
  Stmt s(*statements_, db_, path_,
         SelectSql("experiments", kExperimentCols,
                   std::string("WHERE run_id = ? AND status = 'accepted' AND metric IS NOT NULL "
                               "ORDER BY metric ") +
                       order + ", seq LIMIT 1"));
  s.Bind(run_id);
  if (!s.Step()) return std::nullopt;
  return ReadExperiment(s);
}

std::optional<int64_t> Store::FindEvaluatedTree(int64_t run_id, const std::string& tree) const {
  Stmt s(*statements_, db_, path_,
         "SELECT seq FROM experiments WHERE run_id = ? AND tree = ? AND status IN ('accepted', "
         "'rejected', 'crashed', 'timeout') ORDER BY seq LIMIT 1");
  s.Bind(run_id).Bind(tree);
  if (!s.Step()) return std::nullopt;
  return s.Int(0);
}

// ---- Measurements

int64_t Store::AddMeasurement(const MeasurementRow& m) {
  Stmt s(*statements_, db_, path_, InsertSql("measurements", kMeasurementCols));
  s.Bind(m.experiment_id)
      .Bind(m.repeat)
      .Bind(m.seed)
      .Bind(ToString(m.role))
      .Bind(ToString(m.status))
      .Bind(m.metric)
      .Bind(m.train_seconds)
      .Bind(m.eval_seconds)
      .Bind(m.tokens)
      .Bind(m.peak_rss_kb)
      .Bind(m.exit_code)
      .Bind(m.term_signal)
      .Bind(m.extra_json)
      .Bind(m.created_at == 0 ? NowSeconds() : m.created_at)
      .Bind(m.host)
      .Bind(m.job_id)
      .Bind(m.started_at)
      .Bind(m.ended_at)
      .Bind(m.hardware);
  s.Run();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<MeasurementRow> Store::ListMeasurements(int64_t experiment_id) const {
  Stmt s(*statements_, db_, path_,
         SelectSql("measurements", kMeasurementCols,
                   "WHERE experiment_id = ? ORDER BY CASE role WHEN 'calibration' THEN 0 "
                   "WHEN 'baseline' THEN 1 WHEN 'candidate' THEN 2 ELSE 3 END, repeat, id"));
  s.Bind(experiment_id);
  std::vector<MeasurementRow> out;
  while (s.Step()) out.push_back(ReadMeasurement(s));
  return out;
}

// ---- Events

void Store::AddEvent(int64_t run_id, std::string_view level, std::string_view message) {
  Stmt s(db_, path_, "INSERT INTO events (run_id, at, level, message) VALUES (?, ?, ?, ?)");
  s.Bind(run_id).Bind(NowSeconds()).Bind(level).Bind(message);
  s.Run();
}

std::vector<EventRow> Store::Events(int64_t run_id) const {
  Stmt s(db_, path_,
         "SELECT id, run_id, at, level, message FROM events WHERE run_id = ? ORDER BY at, id");
  s.Bind(run_id);
  std::vector<EventRow> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Int(1), s.Real(2), s.Text(3), s.Text(4)});
  }
  return out;
}

// ---- Proposer exchanges

void Store::SetExchange(int64_t experiment_id, std::string_view prompt, std::string_view reply) {
  Stmt s(db_, path_,
         "INSERT OR REPLACE INTO exchanges (experiment_id, prompt, reply) VALUES (?, ?, ?)");
  s.Bind(experiment_id).Bind(prompt).Bind(reply);
  s.Run();
}

std::optional<ExchangeRow> Store::GetExchange(int64_t experiment_id) const {
  Stmt s(db_, path_, "SELECT prompt, reply FROM exchanges WHERE experiment_id = ?");
  s.Bind(experiment_id);
  if (!s.Step()) return std::nullopt;
  return ExchangeRow{s.Text(0), s.Text(1)};
}

}  // namespace ratchet

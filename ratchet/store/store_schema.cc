#include "ratchet/store/store_schema.h"

#include <array>

namespace ratchet {
namespace {

// v1: the tables. Statuses and enums are CHECKed text so hand-written queries
// read naturally (`where status = 'accepted'`); JSON columns are checked with
// json_valid so json_extract() always works.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE hardware (
  id           INTEGER PRIMARY KEY,
  fingerprint  TEXT NOT NULL UNIQUE,
  cpu_model    TEXT NOT NULL,
  cores        INTEGER NOT NULL,
  memory_bytes INTEGER NOT NULL,
  gpu          TEXT NOT NULL,
  os           TEXT NOT NULL,
  compiler     TEXT NOT NULL,
  json         TEXT NOT NULL CHECK (json_valid(json))
);

CREATE TABLE runs (
  id              INTEGER PRIMARY KEY,
  tag             TEXT NOT NULL UNIQUE,
  spec_name       TEXT NOT NULL,
  spec_json       TEXT NOT NULL CHECK (json_valid(spec_json)),
  spec_sha256     TEXT NOT NULL,
  workspace       TEXT NOT NULL,
  baseline_commit TEXT NOT NULL,
  best_commit     TEXT,
  hardware_id     INTEGER REFERENCES hardware(id),
  budget_kind     TEXT NOT NULL,
  budget_amount   REAL NOT NULL,
  metric_name     TEXT NOT NULL,
  goal            TEXT NOT NULL CHECK (goal IN ('minimize', 'maximize')),
  pins_json       TEXT NOT NULL CHECK (json_valid(pins_json)),
  pins_digest     TEXT NOT NULL,
  noise_sd        REAL,
  baseline_metric REAL,
  state           TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'finished')),
  started_at      REAL NOT NULL,
  updated_at      REAL NOT NULL,
  ended_at        REAL
);

CREATE TABLE experiments (
  id             INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq            INTEGER NOT NULL CHECK (seq >= 0),
  parent_commit  TEXT NOT NULL,
  "commit"       TEXT,
  tree           TEXT,
  proposer       TEXT NOT NULL,
  description    TEXT NOT NULL,
  params_json    TEXT NOT NULL CHECK (json_valid(params_json)),
  diff_stat      TEXT,
  status         TEXT NOT NULL CHECK (status IN ('proposed', 'running', 'evaluating',
                   'accepted', 'rejected', 'crashed', 'timeout', 'invalid', 'duplicate',
                   'interrupted')),
  phase          TEXT NOT NULL,
  metric         REAL,
  spread         REAL,
  n_measurements INTEGER NOT NULL DEFAULT 0,
  started_at     REAL NOT NULL,
  ended_at       REAL,
  train_seconds  REAL,
  tokens         INTEGER,
  peak_rss_kb    INTEGER,
  exit_code      INTEGER,
  term_signal    INTEGER,
  reason         TEXT,
  log_tail       TEXT,
  decision_json  TEXT CHECK (decision_json IS NULL OR json_valid(decision_json)),
  pgid           INTEGER,
  UNIQUE (run_id, seq)
);

CREATE TABLE measurements (
  id            INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
  repeat        INTEGER NOT NULL,
  seed          INTEGER NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('calibration', 'candidate', 'confirm', 'baseline')),
  status        TEXT NOT NULL CHECK (status IN ('ok', 'crashed', 'timeout', 'invalid', 'interrupted')),
  metric        REAL,
  train_seconds REAL,
  eval_seconds  REAL,
  tokens        INTEGER,
  peak_rss_kb   INTEGER,
  exit_code     INTEGER,
  term_signal   INTEGER,
  extra_json    TEXT CHECK (extra_json IS NULL OR json_valid(extra_json)),
  created_at    REAL NOT NULL
);

CREATE TABLE events (
  id      INTEGER PRIMARY KEY,
  run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  at      REAL NOT NULL,
  level   TEXT NOT NULL,
  message TEXT NOT NULL
);
)sql";

// v2: what reports, export and import need. A run uid that survives merging
// stores from several machines (tags may collide, uids do not); indexes for
// the per-run queries; and a view joining runs and experiments with the
// columns people query by hand.
constexpr std::string_view kV2 = R"sql(
ALTER TABLE runs ADD COLUMN uid TEXT;
UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
CREATE UNIQUE INDEX runs_uid ON runs(uid);

CREATE INDEX experiments_run_tree ON experiments(run_id, tree);
CREATE INDEX experiments_run_status ON experiments(run_id, status);
CREATE INDEX measurements_experiment ON measurements(experiment_id);
CREATE INDEX events_run_at ON events(run_id, at);

CREATE VIEW experiment_log AS
SELECT r.tag, r.metric_name, r.goal, r.budget_kind, r.budget_amount,
       h.fingerprint AS hardware,
       e.seq, e.status, e.metric, e.spread, e.n_measurements, e."commit",
       e.parent_commit, e.proposer, e.description, e.params_json, e.reason,
       e.train_seconds, e.tokens, e.peak_rss_kb,
       e.started_at, e.ended_at, e.ended_at - e.started_at AS seconds,
       r.id AS run_id, e.id AS experiment_id
FROM experiments e
JOIN runs r ON r.id = e.run_id
LEFT JOIN hardware h ON h.id = r.hardware_id;
)sql";

// v3: what an agent or LLM proposer was asked and answered, per experiment
// (`ratchet show N` prints it). A side table: prompts run to tens of
// kilobytes, and the loop's per-experiment queries never need them.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE exchanges (
  experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
  prompt        TEXT NOT NULL,
  reply         TEXT NOT NULL
);
)sql";

// v4: where and when each measurement ran (several run at once with
// `--parallel`, on local slots or Slurm nodes): host or node, Slurm job id,
// start and end, and the fingerprint of the hardware it ran on (a node's own;
// comparisons never mix fingerprints). An experiment's running job, like its
// process group, lets a resumed controller cancel what a dead one left.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE measurements ADD COLUMN host TEXT;
ALTER TABLE measurements ADD COLUMN job_id TEXT;
ALTER TABLE measurements ADD COLUMN started_at REAL;
ALTER TABLE measurements ADD COLUMN ended_at REAL;
ALTER TABLE measurements ADD COLUMN hardware TEXT;
ALTER TABLE experiments ADD COLUMN job_id TEXT;
)sql";

constexpr std::array<std::string_view, 4> kMigrations = {kV1, kV2, kV3, kV4};
static_assert(kMigrations.size() == kStoreSchemaVersion);

}  // namespace

std::span<const std::string_view> StoreMigrations() { return kMigrations; }

}  // namespace ratchet

// `ratchet import STORE --workspace DIR`: merges the runs of another
// machine's store into this workspace's store, so results collected on
// several machines can be reported and compared in one place.
//
// Identity: a run is its uid (store schema v2), never its tag; hardware is
// its fingerprint (rows stay distinct per machine); an experiment is (run,
// seq); a measurement (experiment, role, repeat); an event (run, time,
// message). Importing the same store twice adds nothing; importing it again
// after the other machine ran further adds only what is new, and updates
// experiments and the run row that changed there.
//
// A run whose tag is already taken by a different run here is imported as
// "<tag>@<hardware fingerprint prefix>" (then "-2", "-3"…). Everything happens
// in one transaction: on any error nothing is imported.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ratchet/store/store.h"

namespace ratchet {

struct ImportOptions {
  std::filesystem::path store;      // the store file to import from
  std::filesystem::path workspace;  // its .ratchet/store.db receives the runs (created if absent)
};

struct ImportedRun {
  std::string uid;
  std::string source_tag;
  std::string tag;  // as stored here
  bool new_run = false;
  int64_t experiments_added = 0, experiments_updated = 0;
  int64_t measurements_added = 0, events_added = 0;
};

// REQUIRES: `from` and `into` are different database files.
std::vector<ImportedRun> ImportStore(const Store& from, Store& into);

void CommandImport(const ImportOptions& options, std::ostream& out);

}  // namespace ratchet

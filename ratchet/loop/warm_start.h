// The run's history as proposers see it, read from the store, and the
// history of earlier runs for `--warm-start`: runs of the same spec (by name)
// measured on the same hardware (same fingerprint), so a `tpe` or
// `evolution` proposer starts from everything already learned there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ratchet/propose/proposer.h"
#include "ratchet/store/store.h"

namespace ratchet {

// Every experiment of run `run_id`, by seq, as HistoryEntry (reason included).
std::vector<HistoryEntry> HistoryOf(const Store& store, int64_t run_id);

// Experiments of the other runs of `run`'s spec name on the same hardware
// (fingerprint), oldest run first. Empty when run.hardware_id is unset.
std::vector<HistoryEntry> WarmStartHistory(const Store& store, const RunRow& run);

}  // namespace ratchet

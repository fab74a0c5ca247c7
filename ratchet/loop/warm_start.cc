#include "ratchet/loop/warm_start.h"

namespace ratchet {

std::vector<HistoryEntry> HistoryOf(const Store& store, int64_t run_id) {
  std::vector<HistoryEntry> history;
  for (const ExperimentRow& e : store.ListExperiments(run_id)) {
    HistoryEntry entry;
    entry.seq = e.seq;
    entry.status = std::string(ToString(e.status));
    entry.metric = e.metric;
    entry.params = nlohmann::json::parse(e.params_json, nullptr, false);
    if (entry.params.is_discarded()) entry.params = nullptr;
    entry.description = e.description;
    entry.reason = e.reason.value_or("");
    history.push_back(std::move(entry));
  }
  return history;
}

std::vector<HistoryEntry> WarmStartHistory(const Store& store, const RunRow& run) {
  std::vector<HistoryEntry> prior;
  if (!run.hardware_id) return prior;
  std::optional<HardwareRow> here = store.GetHardware(*run.hardware_id);
  for (const RunRow& other : store.ListRuns()) {
    if (other.id == run.id || other.spec_name != run.spec_name || !other.hardware_id) continue;
    if (*other.hardware_id != *run.hardware_id) {
      std::optional<HardwareRow> there = store.GetHardware(*other.hardware_id);
      if (!here || !there || here->info.Fingerprint() != there->info.Fingerprint()) continue;
    }
    if (other.goal != run.goal || other.metric_name != run.metric_name) continue;
    for (HistoryEntry& e : HistoryOf(store, other.id)) prior.push_back(std::move(e));
  }
  return prior;
}

}  // namespace ratchet

#include "ratchet/runner/peak_rss.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace ratchet {

int64_t PeakRssKbOf(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      int64_t kb = 0;
      fields >> kb;  // "VmHWM:   123456 kB"
      return kb;
    }
  }
  return 0;
}

int64_t LargestPeakRssKb(const std::filesystem::path& cgroup_procs) {
  std::ifstream procs(cgroup_procs);
  int64_t largest = 0;
  int pid = 0;
  while (procs >> pid) largest = std::max(largest, PeakRssKbOf(pid));
  return largest;
}

}  // namespace ratchet

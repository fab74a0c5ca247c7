// The machine a run is measured on. Results from different hardware are not
// the same measurement (a time budget rewards a fast CPU), so every run
// records the hardware row it ran on, and reports group by fingerprint.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ratchet {

struct HardwareInfo {
  std::string cpu_model;      // "AMD EPYC 7B13" ("unknown" if not found)
  int cores = 0;              // online logical CPUs
  uint64_t memory_bytes = 0;  // physical memory
  std::string gpu;            // NVIDIA model names joined by ", ", or "none"
  std::string os;             // "Debian GNU/Linux 12 (bookworm); Linux 6.1.0 x86_64"
  std::string compiler;       // the compiler that built ratchet: "gcc 12.2.0"

  // 16 hex digits identifying this machine and toolchain. Memory enters
  // rounded to GiB so the few kB a kernel update reserves do not make a new
  // machine. An identity, not a security hash.
  std::string Fingerprint() const;
  nlohmann::json ToJson() const;
  // Throws Error naming the key if a field is missing or has the wrong type.
  static HardwareInfo FromJson(const nlohmann::json& json);
};

// Reads /proc/cpuinfo, sysconf, /proc/meminfo, uname, /etc/os-release and
// /proc/driver/nvidia/gpus. Never spawns a process; never throws (fields it
// cannot read are "unknown" or 0).
HardwareInfo DetectHardware();

}  // namespace ratchet

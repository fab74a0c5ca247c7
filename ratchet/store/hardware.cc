#include "ratchet/store/hardware.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/error.h"

namespace ratchet {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n\"'";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

// Value of the first "key<sep>value" line of a file, or "".
std::string ReadKey(const std::filesystem::path& file, std::string_view key, char sep) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    size_t pos = line.find(sep);
    if (pos == std::string::npos) continue;
    if (Trim(line.substr(0, pos)) == key) return Trim(line.substr(pos + 1));
  }
  return "";
}

std::string CpuModel() {
  // x86 names it "model name"; arm64 kernels often give only "Hardware" or nothing.
  for (const char* key : {"model name", "Hardware", "Processor", "cpu model"}) {
    std::string v = ReadKey("/proc/cpuinfo", key, ':');
    if (!v.empty()) return v;
  }
  return "unknown";
}

uint64_t MemoryBytes() {
  std::string kb = ReadKey("/proc/meminfo", "MemTotal", ':');  // "16318208 kB"
  if (!kb.empty()) {
    try {
      return static_cast<uint64_t>(std::stoull(kb)) * 1024;
    } catch (const std::exception&) {
    }
  }
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

std::string Gpus() {
  // The NVIDIA driver lists each GPU as /proc/driver/nvidia/gpus/<bus>/information.
  std::error_code ec;
  std::vector<std::string> models;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::string model = ReadKey(entry.path() / "information", "Model", ':');
    if (!model.empty()) models.push_back(model);
  }
  if (models.empty()) return "none";
  std::sort(models.begin(), models.end());
  std::string out;
  for (const auto& m : models) out += (out.empty() ? "" : ", ") + m;
  return out;
}

std::string Os() {
  std::string name = ReadKey("/etc/os-release", "PRETTY_NAME", '=');
  struct utsname u {};
  std::string kernel;
  if (::uname(&u) == 0) kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
  if (name.empty()) return kernel.empty() ? "unknown" : kernel;
  return kernel.empty() ? name : name + "; " + kernel;
}

std::string Compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

// FNV-1a 64: stable across builds and platforms, no dependency.
uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string HardwareInfo::Fingerprint() const {
  uint64_t gib = (memory_bytes + (1ull << 29)) >> 30;  // rounded to GiB
  std::string canonical = cpu_model + '\n' + std::to_string(cores) + '\n' + std::to_string(gib) +
                          '\n' + gpu + '\n' + os + '\n' + compiler;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(Fnv1a64(canonical)));
  return hex;
}

nlohmann::json HardwareInfo::ToJson() const {
  return {{"cpu_model", cpu_model},
          {"cores", cores},
          {"memory_bytes", memory_bytes},
          {"gpu", gpu},
          {"os", os},
          {"compiler", compiler},
          {"fingerprint", Fingerprint()}};
}

HardwareInfo HardwareInfo::FromJson(const nlohmann::json& json) {
  HardwareInfo info;
  auto get = [&](const char* key, auto& out) {
    if (!json.is_object() || !json.contains(key))
      throw Error(std::string("hardware json: missing key ") + key);
    try {
      json.at(key).get_to(out);
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("hardware json: ") + key + ": " + e.what());
    }
  };
  get("cpu_model", info.cpu_model);
  get("cores", info.cores);
  get("memory_bytes", info.memory_bytes);
  get("gpu", info.gpu);
  get("os", info.os);
  get("compiler", info.compiler);
  return info;
}

HardwareInfo DetectHardware() {
  HardwareInfo info;
  info.cpu_model = CpuModel();
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  info.cores = n > 0 ? static_cast<int>(n) : 1;
  info.memory_bytes = MemoryBytes();
  info.gpu = Gpus();
  info.os = Os();
  info.compiler = Compiler();
  return info;
}

}  // namespace ratchet

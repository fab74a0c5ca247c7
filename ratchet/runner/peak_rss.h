// The peak memory of a child's whole process tree, sampled while it runs.
//
// wait4's ru_maxrss covers the child and the descendants it waited for; a
// sandboxed child is bubblewrap, whose monitor exits on its sandbox's exit
// code without reaping it, so ru_maxrss says ~15 MB for a trainer of 300 MB.
// The child's pids cgroup (process_limit.h) lists every process of the tree,
// host pids even inside the sandbox's PID namespace; each one's VmHWM (its
// own high-water mark) is read from /proc.
#pragma once

#include <cstdint>
#include <filesystem>

namespace ratchet {

// The largest VmHWM, in KiB, of the processes listed in `cgroup_procs` (a
// cgroup.procs file); 0 when it cannot be read or lists none. Processes that
// exit while it reads are skipped.
int64_t LargestPeakRssKb(const std::filesystem::path& cgroup_procs);

// VmHWM of one process in KiB; 0 if it is gone or unreadable.
int64_t PeakRssKbOf(int pid);

}  // namespace ratchet

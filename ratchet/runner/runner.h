// Running a train or evaluate command as a child process.
//
// The controller never links what it measures: it runs programs. A child runs
// in a process group of its own (so a deadline or Ctrl-C can kill it with
// every grandchild it started, and the terminal's Ctrl-C reaches only the
// controller), with stdin from /dev/null and its stdout/stderr captured into
// two capped log files (head and tail kept, see log_capture.h).
//
// A child that fails (non-zero exit, signal, deadline) is a normal RunResult,
// not an error. ratchet::Error is thrown only when the infrastructure breaks:
// a log file cannot be created, pipe() or clone() fails.
//
// ProcessRunner is the one interface the loop uses, so the loop's logic can be
// tested with a fake; PosixProcessRunner is the real thing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ratchet {

struct RunRequest {
  // Executed directly, never through a shell. argv[0] without a '/' is looked
  // up in PATH (extra_env's PATH if it sets one). REQUIRES: !argv.empty().
  std::vector<std::string> argv;
  std::filesystem::path cwd;  // Empty: the controller's working directory.
  // Log files, created or truncated. Empty: the stream is discarded (and
  // still counted). The parent folder must exist.
  std::filesystem::path stdout_path, stderr_path;
  double timeout_seconds = 0;        // 0: no deadline. At the deadline the group gets SIGTERM...
  double kill_grace_seconds = 5;     // ...and SIGKILL this long after.
  uint64_t memory_limit_bytes = 0;   // RLIMIT_AS of the child; 0: unlimited.
  uint64_t log_cap_bytes = 4 << 20;  // Per log file; 0: no cap.
  std::map<std::string, std::string> extra_env;  // Added to (or replacing in) the controller's env.
  // When set, the child writes itself into this cgroup.procs file before it
  // executes anything (a pids bound: process_limit.h).
  std::filesystem::path cgroup_procs;
  // The program reports its child's death by signal N as exit 128 + N (a
  // wrapper such as bubblewrap does): the result says kSignaled, N again.
  bool signal_in_exit_code = false;
  // Called right after the child started with its process group id, so the
  // caller can record it (a resumed controller kills leftovers with
  // KillProcessGroup). If it throws, the group is killed and reaped first.
  std::function<void(pid_t pgid)> on_start;
  // Polled about 10 times a second; returning true kills the group now
  // (SIGTERM, then SIGKILL after kill_grace_seconds).
  std::function<bool()> should_abort;
  // For a scheduler's runner (SlurmRunner, slurm_runner.h): called with the
  // job id once the job is submitted (node "": not placed yet), and again with
  // the node once it runs there, so the caller can record where each run ran
  // (and cancel a leftover job on resume). If it throws, the job is cancelled
  // and the exception passes on. PosixProcessRunner never calls it.
  std::function<void(const std::string& job_id, const std::string& node)> on_job;
};

struct RunResult {
  enum class Outcome {
    kExited,       // exit_code holds the status.
    kSignaled,     // term_signal killed it (not sent by us).
    kTimedOut,     // We hit the deadline and killed the group.
    kAborted,      // should_abort returned true and we killed the group.
    kSpawnFailed,  // exec (or chdir, setrlimit...) failed in the child; see error.
  };
  Outcome outcome = Outcome::kSpawnFailed;
  int exit_code = -1;       // -1 unless the child exited normally.
  int term_signal = 0;      // 0 unless a signal ended the child.
  double wall_seconds = 0;  // From spawn to reap.
  // Peak resident memory in KiB: the larger of wait4's ru_maxrss (the child
  // and the descendants it waited for) and, with cgroup_procs set, the largest
  // VmHWM of the processes in that cgroup, sampled every 0.25 s while it ran
  // (peak_rss.h: a sandboxed child's own ru_maxrss is bubblewrap's).
  int64_t peak_rss_kb = 0;
  uint64_t stdout_bytes = 0, stderr_bytes = 0;  // Total produced, before capping.
  // Why it failed to start, or a log write error; "" otherwise.
  std::string error;
  // Under a scheduler (SlurmRunner): the job's id and the node it ran on;
  // "" for a local child.
  std::string job_id, node;
  // Under a scheduler with a hardware probe: what the node said of itself
  // (HardwareInfo JSON); "" otherwise.
  std::string hardware_json;

  // Exited with status 0.
  bool Succeeded() const;
  // One short phrase: "exit 0", "exit 3", "killed by SIGSEGV",
  // "timed out after 12.0 s", "aborted after 1.5 s", "failed to start: ...".
  std::string Describe() const;
};

// Sets outcome (kExited or kSignaled), exit_code and term_signal from a
// wait()/wait4() status. The one place a wait status is interpreted.
void DecodeWaitStatus(int wait_status, RunResult& result);
// Turns an exit with 128 + N (N a signal) into kSignaled with N: for
// RunRequest::signal_in_exit_code.
void RestoreChildSignal(RunResult& result);

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs the request to completion (or to its deadline) and reaps the child.
  virtual RunResult Run(const RunRequest& request) = 0;
  // Runs `steps` in order (a measurement's train, then evaluate), stopping
  // after the first that does not succeed; returns one result per step that
  // ran. Here each step is one Run(), and before_step(i) is called before
  // step i > 0 starts; a scheduler's runner runs them all as one job
  // (job_steps.h).
  virtual std::vector<RunResult> RunSteps(const std::vector<RunRequest>& steps,
                                          const std::function<void(size_t)>& before_step);
};

// The real runner: starts the child with Spawn (spawn.h, no fork), then one
// poll loop, no threads. The child gets PR_SET_PDEATHSIG=SIGKILL, so a
// controller killed with SIGKILL does not leave the trainer running
// (grandchildren that ignore their parent's death are cleaned on resume with
// KillProcessGroup). When the child exits, whatever is
// left in its process group is killed too: a stray process would otherwise
// steal CPU from the next measurement. (A descendant that calls setsid()
// leaves the group and escapes; that would need cgroups.)
//
// Run() may be called from several threads at once. PDEATHSIG fires when the
// *thread* that started it exits, so call Run() from a thread that outlives it.
class PosixProcessRunner : public ProcessRunner {
 public:
  RunResult Run(const RunRequest& request) override;
};

// The last max_bytes of a log file, starting at a line boundary when the file
// is longer. "" when the file does not exist. Throws ratchet::Error on other
// read failures.
std::string ReadLogTail(const std::filesystem::path& path, size_t max_bytes);

// SIGKILLs every process of a leftover group (on resume). A group that is gone
// (ESRCH) or not ours (EPERM) is ignored. pgid <= 1 is ignored: kill(-1) would
// signal every process we may signal.
void KillProcessGroup(pid_t pgid);

}  // namespace ratchet

#include "ratchet/runner/slurm_job.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "base/error.h"

namespace ratchet {

std::string ShellQuote(std::string_view word) {
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::vector<std::string> ReadJobMarker(const std::filesystem::path& marker) {
  std::vector<std::string> lines;
  std::ifstream in(marker);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

uint64_t JobFileSize(const std::filesystem::path& path) {
  std::error_code ec;
  const uintmax_t size = path.empty() ? 0 : std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

std::string OneLine(std::string_view text) {
  std::string line;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(begin, end - begin);
    if (!part.empty()) line += (line.empty() ? "" : "; ") + std::string(part);
    begin = end + 1;
  }
  return line.empty() ? "no message" : line;
}

std::string SlurmJobScript(const RunRequest& request, const std::filesystem::path& marker,
                           const std::vector<std::string>& probe,
                           const std::filesystem::path& hardware_file) {
  std::string script =
      "#!/bin/bash\n"
      "# Written by ratchet (SlurmRunner): one run as one Slurm job.\n"
      "marker=" + ShellQuote(marker.string()) + "\n"
      "printf '%s\\n' \"${SLURMD_NODENAME:-$(hostname -s)}\" > \"$marker\" || exit 126\n"
      "if [ -n \"${SLURM_JOB_ID:-}\" ]; then printf 'job %s\\n' \"$SLURM_JOB_ID\" >> \"$marker\"; fi\n";
  // Slurm starts a job whose --chdir is missing in /tmp instead: refuse.
  if (!request.cwd.empty()) {
    script += "cd " + ShellQuote(request.cwd.string()) +
              " || { printf 'chdir-failed\\n' >> \"$marker\"; exit 126; }\n";
  }
  if (!probe.empty() && !hardware_file.empty()) {
    std::string command;
    for (const std::string& arg : probe) command += (command.empty() ? "" : " ") + ShellQuote(arg);
    const std::string file = ShellQuote(hardware_file.string());
    script += command + " > " + file + " 2>/dev/null || rm -f " + file + "\n";
  }
  if (request.memory_limit_bytes > 0) {
    script += "ulimit -v " + std::to_string((request.memory_limit_bytes + 1023) / 1024) + "\n";
  }
  for (const auto& [key, value] : request.extra_env) {
    script += "export " + key + "=" + ShellQuote(value) + "\n";
  }
  // execfail: a failed exec returns here (instead of ending the shell), so
  // the marker can say the program never started.
  script += "shopt -s execfail\nexec";
  for (const std::string& arg : request.argv) script += " " + ShellQuote(arg);
  script += "\nprintf 'exec-failed\\n' >> \"$marker\"\nexit 127\n";
  return script;
}

namespace {

std::string MinutesCeil(double seconds) {
  return std::to_string(static_cast<long long>(std::ceil(seconds / 60.0)));
}

}  // namespace

std::vector<std::string> SbatchArgv(const RunRequest& request, const SlurmOptions& options,
                                    const std::filesystem::path& script) {
  std::vector<std::string> argv = JobArgv(options.sbatch, "--parsable", request, options);
  argv.push_back(script.string());
  return argv;
}

std::vector<std::string> JobArgv(const std::string& program, const std::string& mode,
                                 const RunRequest& request, const SlurmOptions& options) {
  const std::filesystem::path cwd =
      request.cwd.empty() ? std::filesystem::current_path() : request.cwd;
  std::vector<std::string> argv = {
      program,
      mode,
      "--job-name=" + options.job_name,
      "--chdir=" + cwd.string(),
      "--output=" + (request.stdout_path.empty() ? "/dev/null" : request.stdout_path.string()),
      "--error=" + (request.stderr_path.empty() ? "/dev/null" : request.stderr_path.string()),
      "--cpus-per-task=" + std::to_string(options.cpus_per_task),
  };
  const uint64_t memory = options.memory_bytes ? options.memory_bytes : request.memory_limit_bytes;
  if (memory > 0) argv.push_back("--mem=" + std::to_string((memory + (1 << 20) - 1) >> 20) + "M");
  if (request.timeout_seconds > 0) {
    argv.push_back("--time=" + MinutesCeil(request.timeout_seconds + request.kill_grace_seconds +
                                           options.time_margin_seconds));
  }
  if (!options.partition.empty()) argv.push_back("--partition=" + options.partition);
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  return argv;
}

std::string ParseSbatchJobId(std::string_view output) {
  // The id is the last line; sbatch may warn on lines before it.
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.remove_suffix(1);
  size_t line_start = output.rfind('\n');
  std::string_view line = line_start == std::string_view::npos ? output : output.substr(line_start + 1);
  line = line.substr(0, line.find(';'));
  if (line.empty()) return "";
  for (char c : line) {
    if (c < '0' || c > '9') return "";
  }
  return std::string(line);
}

bool SlurmJobRecord::Finished() const {
  return !state.empty() && state != "PENDING" && state != "RUNNING" && state != "COMPLETING" &&
         state != "CONFIGURING" && state != "SUSPENDED" && state != "REQUEUED" &&
         state != "RESIZING" && state != "SIGNALING" && state != "STAGE_OUT";
}

bool SlurmJobRecord::Started() const { return !node.empty() && state != "PENDING"; }

namespace {

// The value of " Key=" in a one-line record, up to the next space.
std::string Field(std::string_view record, std::string_view key) {
  const std::string needle = std::string(key) + "=";
  size_t at = 0;
  while ((at = record.find(needle, at)) != std::string_view::npos) {
    if (at == 0 || record[at - 1] == ' ' || record[at - 1] == '\n') {
      size_t begin = at + needle.size();
      size_t end = record.find_first_of(" \n", begin);
      return std::string(record.substr(begin, end == std::string_view::npos ? end : end - begin));
    }
    at += needle.size();
  }
  return "";
}

}  // namespace

SlurmJobRecord ParseScontrolJob(std::string_view job_id, std::string_view output) {
  SlurmJobRecord record;
  record.state = Field(output, "JobState");
  if (record.state.empty()) {
    std::string said(output.substr(0, output.find('\n')));
    throw Error("slurm job " + std::string(job_id) + ": scontrol show job gave no JobState (" +
                said + ")");
  }
  record.reason = Field(output, "Reason");
  record.node = Field(output, "BatchHost");
  if (record.node == "(null)") record.node.clear();
  const std::string exit = Field(output, "ExitCode");
  const size_t colon = exit.find(':');
  if (colon != std::string::npos) {
    record.exit_code = std::atoi(exit.substr(0, colon).c_str());
    record.term_signal = std::atoi(exit.substr(colon + 1).c_str());
  }
  return record;
}

}  // namespace ratchet

// Containing the loop's children: what each may see under bubblewrap, and
// how many processes it may have.
#include "ratchet/loop/loop_internal.h"

namespace ratchet::internal {

namespace {

std::vector<fs::path> Paths(const std::vector<std::string>& dirs, const Vars& vars) {
  std::vector<fs::path> paths;
  for (const std::string& dir : dirs) paths.push_back(Substitute(dir, vars));
  return paths;
}

}  // namespace

// What every child may read wherever it lives (under /tmp or a home folder
// too): the programs, the spec's folder, the pinned evaluator files outside
// the workspace, the spec's extra_ro. The workspace and the data are hidden
// after these, so they stay hidden even inside the spec's folder.
std::vector<fs::path> Controller::SandboxTools() const {
  std::vector<fs::path> tools = Paths(spec_.sandbox.extra_ro, base_vars_);
  for (const char* var : {"bin_dir", "spec_dir"}) {
    if (base_vars_.count(var)) tools.push_back(base_vars_.at(var));
  }
  for (const std::string& file : spec_.immutable) {
    const std::string path = Substitute(file, base_vars_);
    if (path.find('{') == std::string::npos) tools.push_back(path);  // not {workspace}/...
  }
  return tools;
}

// Its worktree and run folder to write; of the data only the train files.
SandboxPolicy Controller::TrainPolicy(const fs::path& worktree, const fs::path& run_dir) const {
  SandboxPolicy policy;
  policy.tools = SandboxTools();
  policy.hidden = {workspace_->dir()};
  if (base_vars_.count("data_dir")) policy.hidden.push_back(base_vars_.at("data_dir"));
  if (base_vars_.count("train_data")) policy.read_only.push_back(base_vars_.at("train_data"));
  policy.writable = {worktree, run_dir};
  policy.cwd = worktree;
  return policy;
}

// Reads the candidate, its run folder (the checkpoint) and the data; writes
// only its private /tmp.
SandboxPolicy Controller::EvaluatePolicy(const fs::path& worktree, const fs::path& run_dir) const {
  SandboxPolicy policy;
  policy.tools = SandboxTools();
  policy.hidden = {workspace_->dir()};
  policy.read_only = {worktree, run_dir};
  if (base_vars_.count("data_dir")) policy.read_only.push_back(base_vars_.at("data_dir"));
  policy.cwd = run_dir;
  return policy;
}

// No store, no other runs, no data; git in its worktree read-only. The
// proposer adds the worktree (writable) and its prompt.
SandboxPolicy Controller::AgentPolicy() const {
  SandboxPolicy policy;
  policy.tools = SandboxTools();
  policy.hidden = {workspace_->dir()};
  if (base_vars_.count("data_dir")) policy.hidden.push_back(base_vars_.at("data_dir"));
  policy.read_only = {workspace_->dir() / ".git"};
  policy.network = spec_.sandbox.agent_network;
  return policy;
}

void Controller::Contain(RunRequest& request, const SandboxPolicy& policy) const {
  if (sandboxed_) ratchet::Contain(request, policy);
}

void Controller::BoundProcesses(RunRequest& request, std::optional<ProcessLimit>& limit) {
  if (spec_.limits.processes <= 0) return;
  limit.emplace(spec_.limits.processes);
  if (limit->available()) {
    request.cgroup_procs = limit->procs_file();
  } else if (!warned_unbounded_) {
    warned_unbounded_ = true;
    Event("warning", limit->unavailable_reason());
  }
}

}  // namespace ratchet::internal

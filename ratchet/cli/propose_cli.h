// `ratchet propose --dry-run`: prints the mutation the next experiment would
// get, without running, committing or recording anything, for debugging a
// spec, a search space or a prompt.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

namespace ratchet {

struct ProposeOptions {
  std::filesystem::path spec_path;
  // An existing workspace: the proposal is made for run `tag` (default: the
  // spec's name) from its best commit and history. Empty or not yet a
  // workspace: from the spec's template, as the first experiment of a new run.
  std::filesystem::path workspace;
  std::string tag;
  bool warm_start = false;  // also give the proposer earlier runs' history (warm_start.h)
  bool show_prompt = true;  // print the prompt and reply of agent/LLM proposers
};

// Prints the description, notes, path-policy verdict, diff stat and patch of
// the proposal (and the prompt and reply, if any) to `out`. The store is
// opened read-only; the candidate worktree is a throwaway one, removed
// before returning. Returns 0 when a valid proposal was made, 1 when the
// proposer failed or the change would be `invalid` (the reason is printed).
// Throws Error when the spec, workspace or store cannot be used.
int CommandPropose(const ProposeOptions& options, std::ostream& out);

}  // namespace ratchet

// The prompt of agent and LLM proposers (`command`, `openai`): what the run
// is for (the experiment's program.md), the files that may change with their
// current best contents, a compact table of recent experiments and their
// outcomes, and how to answer. Rendered as Markdown, deterministic for a
// given context, so a resumed run asks the same question.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "ratchet/propose/proposer.h"

namespace ratchet {

struct PromptOptions {
  std::string program =
      "program.md";       // worktree file explaining the research goal; skipped if absent
  int history_rows = 20;  // most recent experiments listed
  size_t max_file_bytes = 64 << 10;    // a larger mutable file is listed but not shown
  size_t max_total_bytes = 256 << 10;  // budget for all shown files
  // How to answer: kEdit (an agent edits files itself) or kReply (an LLM
  // answers with parameters, a diff or whole files).
  enum class Answer { kEdit, kReply } answer = Answer::kReply;
};

// Files of `worktree` matched by the mutable globs (outside .git and
// .ratchet), '/'-separated, sorted.
std::vector<std::string> MutableFiles(const std::filesystem::path& worktree,
                                      const std::vector<std::string>& globs);

// "| seq | status | metric | description |" rows for the last `rows`
// experiments (reasons shown for failures).
std::string HistoryTable(const std::vector<HistoryEntry>& history, int rows,
                         const std::string& metric_name);

std::string RenderPrompt(const ProposalContext& ctx, const PromptOptions& options);

}  // namespace ratchet

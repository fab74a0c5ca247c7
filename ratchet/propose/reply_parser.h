// Replies of agent and LLM proposers, and how they become edits. A reply
// holds one of:
//   a JSON object of parameter changes   {"lr": 0.002, "optim.beta2": 0.95}
//     (the whole reply, a fenced block, or the outermost {...} in prose; may
//     be wrapped as {"description": "...", "params": {...}})
//   a unified diff                        in a ```diff block or bare, with
//     ---/+++ headers and @@ hunks (line numbers are hints: hunks are placed
//     by their context, nearest the hinted line)
//   whole files in fenced blocks          named by the info string
//     (```python train.py, ```path=train.py, ```json:cfg.json) or by the line
//     just before the fence (### train.py, **`train.py`**, File: train.py)
// plus, optionally, a one-line description: the first prose line outside
// code. <think>...</think> blocks (reasoning models) are ignored. Anything
// else is a ProposalError, so the loop records one `invalid` experiment.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ratchet/spec/search_space.h"

namespace ratchet {

struct FileEdit {
  std::string path;  // relative to the worktree
  std::string contents;
};

struct ParsedReply {
  enum class Kind { kParams, kDiff, kFiles } kind = Kind::kParams;
  nlohmann::ordered_json params;  // kParams: an object; keys may be dotted paths
  std::string diff;               // kDiff
  std::vector<FileEdit> files;    // kFiles
  std::string description;        // first prose line, "" if none
};

// `text` without <think>...</think> blocks (an unclosed one runs to the end).
std::string StripThinking(std::string_view text);

// Throws ProposalError naming what was expected and quoting the reply's start.
ParsedReply ParseReply(std::string_view text);

// `relative` under `root`, refusing what could write outside the worktree
// or into git: absolute paths, `..`, `.git`, and existing symlinks on the way.
// Throws ProposalError.
std::filesystem::path SafeJoin(const std::filesystem::path& root, const std::string& relative);

// Applies a unified diff under `root` (new files and deletions included).
// Every hunk must find its old lines (exactly, or up to trailing whitespace);
// otherwise nothing is written and a ProposalError says which hunk of which
// file failed. Returns the changed paths.
std::vector<std::string> ApplyUnifiedDiff(const std::filesystem::path& root, std::string_view diff);

// Writes each file whole (creating folders). Throws ProposalError on an
// unsafe path.
void WriteFiles(const std::filesystem::path& root, const std::vector<FileEdit>& files);

// Applies parameter changes to the JSON config `root/config`: a key naming a
// search-space parameter must get a legal value; any other key must already
// exist in the config (a nested object is read as dotted keys). Rewrites only
// the changed keys (2-space JSON, key order kept, trailing newline). Returns
// "name old -> new, ..." and sets `*full_config` to the new config. Throws
// ProposalError for an unknown key, an illegal value or no change at all.
std::string ApplyParams(const std::filesystem::path& root, const std::string& config,
                        const SearchSpace& space, const nlohmann::ordered_json& params,
                        nlohmann::json* full_config);

}  // namespace ratchet

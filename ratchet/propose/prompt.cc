#include "ratchet/propose/prompt.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "base/fs.h"
#include "ratchet/git/path_policy.h"

namespace ratchet {

namespace fs = std::filesystem;

std::vector<std::string> MutableFiles(const fs::path& worktree,
                                      const std::vector<std::string>& globs) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(worktree, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (it->is_directory() && (name == ".git" || name == ".ratchet")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || it->is_symlink()) continue;
    std::string rel = fs::relative(it->path(), worktree).generic_string();
    for (const std::string& glob : globs) {
      if (GlobMatch(glob, rel)) {
        out.push_back(rel);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::string Number(std::optional<double> v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", *v);
  return buf;
}

std::string Cell(std::string s, size_t max = 120) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '|', '/');
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

bool LooksBinary(const std::string& text) { return text.find('\0') != std::string::npos; }

std::string Fence(const std::string& body) {
  // A fence longer than any backtick run inside, so the block stays closed.
  size_t longest = 0, run = 0;
  for (char c : body) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

}  // namespace

std::string HistoryTable(const std::vector<HistoryEntry>& history, int rows,
                         const std::string& metric_name) {
  std::ostringstream out;
  size_t first = history.size() > static_cast<size_t>(rows) ? history.size() - rows : 0;
  if (first > 0) out << "(last " << rows << " of " << history.size() << " experiments)\n\n";
  out << "| seq | status | " << metric_name << " | change |\n|---|---|---|---|\n";
  for (size_t i = first; i < history.size(); ++i) {
    const HistoryEntry& e = history[i];
    std::string change = e.description;
    if (!e.reason.empty() && e.status != "accepted" && e.status != "rejected") {
      change += " (" + e.reason + ")";
    }
    out << "| " << e.seq << " | " << e.status << " | " << Number(e.metric) << " | " << Cell(change)
        << " |\n";
  }
  return out.str();
}

std::string RenderPrompt(const ProposalContext& ctx, const PromptOptions& options) {
  const Spec& spec = ctx.spec;
  std::ostringstream out;
  const bool minimize = spec.metric.goal == MetricSpec::Goal::kMinimize;
  out << "# Experiment " << ctx.seq << " of the ratchet \"" << spec.name << "\"\n\n";
  if (!spec.description.empty()) out << spec.description << "\n\n";
  out << "Propose ONE change that should make `" << spec.metric.name << "` "
      << (minimize ? "lower" : "higher") << ". The change is trained under a fixed budget ("
      << spec.budget.KindName() << " " << spec.budget.AmountText()
      << "), scored by an evaluator you cannot change, and kept only if the improvement "
         "holds on re-measurement with fresh seeds.";
  if (ctx.best_metric) out << " Best so far: " << Number(ctx.best_metric) << ".";
  out << "\n\n";

  fs::path program = ctx.worktree / options.program;
  std::error_code ec;
  if (!options.program.empty() && fs::is_regular_file(program, ec)) {
    std::string text = ReadFile(program);
    if (text.size() > options.max_file_bytes)
      text = text.substr(0, options.max_file_bytes) + "\n...\n";
    out << "## Program (" << options.program << ")\n\n"
        << text << (text.empty() || text.back() == '\n' ? "" : "\n") << "\n";
  }

  out << "## Files you may change\n\nOnly paths matching these globs may change; any other "
         "edit makes the experiment invalid: ";
  for (size_t i = 0; i < spec.mutable_globs.size(); ++i) {
    out << (i ? ", " : "") << "`" << spec.mutable_globs[i] << "`";
  }
  out << "\n\n";
  size_t budget = options.max_total_bytes;
  for (const std::string& rel : MutableFiles(ctx.worktree, spec.mutable_globs)) {
    std::string text = ReadFile(ctx.worktree / rel);
    if (LooksBinary(text)) {
      out << "### " << rel << "\n\n(binary, " << text.size() << " bytes, not shown)\n\n";
      continue;
    }
    if (text.size() > options.max_file_bytes || text.size() > budget) {
      out << "### " << rel << "\n\n(" << text.size() << " bytes, too large to show)\n\n";
      continue;
    }
    budget -= text.size();
    std::string fence = Fence(text);
    out << "### " << rel << "\n\n"
        << fence << "\n"
        << text << (text.empty() || text.back() == '\n' ? "" : "\n") << fence << "\n\n";
  }

  if (!spec.search_space.params.empty() && !spec.proposer.config.empty()) {
    out << "## Parameters of " << spec.proposer.config << "\n\n";
    for (const Param& p : spec.search_space.params) {
      out << "- `" << p.name << "`: " << TypeName(p.type);
      if (p.type == Param::Type::kFloat || p.type == Param::Type::kInt) {
        out << " in [" << Number(p.min) << ", " << Number(p.max) << "]"
            << (p.log ? " (log scale)" : "");
      } else if (p.type == Param::Type::kChoice) {
        out << " one of";
        for (const nlohmann::json& v : p.values) out << " " << v.dump();
      }
      if (!p.when.empty()) {
        out << "; only when";
        for (const auto& [key, values] : p.when) {
          out << " " << key << " in";
          for (const nlohmann::json& v : values) out << " " << v.dump();
        }
      }
      out << "\n";
    }
    out << "\n";
  }

  out << "## Recent experiments\n\n"
      << HistoryTable(ctx.history, options.history_rows, spec.metric.name) << "\n";
  if (!ctx.pending.empty()) {
    out << "## Being measured now (by other workers; results not in yet)\n\n";
    for (const HistoryEntry& e : ctx.pending) out << "- " << e.seq << ": " << e.description << "\n";
    out << "\nPropose something different from these.\n\n";
  }
  out << "Do not repeat a change that was already tried; build on what was accepted.\n\n";

  out << "## How to answer\n\n";
  if (options.answer == PromptOptions::Answer::kEdit) {
    out << "Edit the files in the current directory directly. Do not touch other files. When "
           "done, print one line describing the change as the last line of your output.\n";
  } else {
    out << "First line: a one-line description of the change. Then exactly one of:\n";
    if (!spec.proposer.config.empty()) {
      out << "- a JSON object of parameter changes for " << spec.proposer.config
          << ", e.g. `{\"name\": new_value}`;\n";
    }
    out << "- a unified diff of the files above in a ```diff block (--- a/path, +++ b/path, @@ "
           "hunks);\n"
           "- the whole new contents of each changed file in a fenced block whose info string is "
           "its path, e.g. ```"
        << (spec.mutable_globs.empty() ? "file.txt" : "path/to/file") << "\n";
  }
  return out.str();
}

}  // namespace ratchet

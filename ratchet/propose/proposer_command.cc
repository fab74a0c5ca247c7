#include "ratchet/propose/proposer_command.h"

#include <stdlib.h>

#include <cstdio>

#include "base/fs.h"
#include "ratchet/spec/placeholders.h"
#include "ratchet/propose/prompt.h"

namespace ratchet {

namespace fs = std::filesystem;

const std::vector<std::string> kCommandPlaceholders = {"prompt_file", "workspace", "seed", "seq"};

namespace {

constexpr size_t kStdoutTail = 16 << 10;
constexpr size_t kStderrTail = 4 << 10;

// A private folder for the prompt and the agent's logs, outside the
// worktree (anything inside it would count as the agent's edit).
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "ratchet-agent-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw Error(ErrnoMessage(pattern, "mkdtemp"));
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string LastLine(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = text.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos) return line.substr(first);
    if (start == 0) break;
    end = start - 1;
  }
  return "";
}

class CommandProposer : public Proposer {
 public:
  CommandProposer(const Spec& spec, ProcessRunner* runner) : runner_(runner) {
    const nlohmann::json& o = spec.proposer.options;
    argv_ = o.value("argv", std::vector<std::string>{});
    if (argv_.empty())
      throw Error(spec.path.string() + ": proposer.argv: required for kind command");
    timeout_ = o.value("timeout_seconds", 1800.0);
    prompt_.program = o.value("program", std::string("program.md"));
    prompt_.history_rows = o.value("history", 20);
    prompt_.answer = PromptOptions::Answer::kEdit;
    if (runner_ == nullptr) {
      own_runner_ = std::make_unique<PosixProcessRunner>();
      runner_ = own_runner_.get();
    }
  }

  Proposal Propose(const ProposalContext& ctx) override {
    ScratchDir scratch;
    Proposal proposal;
    proposal.prompt = RenderPrompt(ctx, prompt_);
    fs::path prompt_file = scratch.path() / "prompt.md";
    WriteFileAtomic(prompt_file, proposal.prompt);

    Vars vars = {{"prompt_file", prompt_file.string()},
                 {"workspace", ctx.worktree.string()},
                 {"seed", std::to_string(ctx.seed & 0x7fffffffULL)},
                 {"seq", std::to_string(ctx.seq)}};
    RunRequest request;
    request.argv = Substitute(argv_, vars);
    if (ctx.sandbox) {  // its worktree to edit, its prompt to read
      SandboxPolicy policy = *ctx.sandbox;
      policy.writable.push_back(ctx.worktree);
      policy.read_only.push_back(scratch.path());
      policy.cwd = ctx.worktree;
      Contain(request, policy);
    }
    request.cwd = ctx.worktree;
    request.stdout_path = scratch.path() / "agent.out";
    request.stderr_path = scratch.path() / "agent.err";
    request.timeout_seconds = timeout_;
    request.kill_grace_seconds = 2;
    request.log_cap_bytes = 1 << 20;
    request.extra_env = {{"RATCHET_PROMPT_FILE", prompt_file.string()},
                         {"RATCHET_WORKSPACE", ctx.worktree.string()},
                         {"RATCHET_SEED", vars["seed"]}};
    RunResult result = runner_->Run(request);

    std::string out = ReadLogTail(request.stdout_path, kStdoutTail);
    std::string err = ReadLogTail(request.stderr_path, kStderrTail);
    proposal.reply = out + (err.empty() ? "" : "\n--- stderr ---\n" + err);
    if (!result.Succeeded()) {
      std::string detail = LastLine(err);
      throw ProposalError("agent " + result.Describe() + (detail.empty() ? "" : ": " + detail),
                          proposal.prompt, proposal.reply);
    }
    proposal.description = LastLine(out);
    if (proposal.description.size() > 200)
      proposal.description = proposal.description.substr(0, 197) + "...";
    if (proposal.description.empty()) proposal.description = "agent edit (no description printed)";
    return proposal;
  }

 private:
  std::vector<std::string> argv_;
  double timeout_ = 1800;
  PromptOptions prompt_;
  ProcessRunner* runner_;
  std::unique_ptr<ProcessRunner> own_runner_;
};

}  // namespace

std::unique_ptr<Proposer> MakeCommandProposer(const Spec& spec, ProcessRunner* runner) {
  return std::make_unique<CommandProposer>(spec, runner);
}

}  // namespace ratchet

#include "ratchet/cli/propose_cli.h"

#include <stdlib.h>
#include <unistd.h>

#include <optional>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/loop/loop.h"
#include "ratchet/git/path_policy.h"
#include "ratchet/propose/proposer.h"
#include "ratchet/spec/spec.h"
#include "ratchet/store/store.h"
#include "ratchet/loop/warm_start.h"
#include "ratchet/git/workspace.h"

namespace ratchet {

namespace fs = std::filesystem;

namespace {

// A temp folder removed on scope exit (the workspace of a dry run without one).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ratchet-propose-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw Error(ErrnoMessage(pattern, "mkdtemp"));
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void Section(std::ostream& out, const std::string& title, const std::string& body) {
  if (body.empty()) return;
  out << "--- " << title << " ---\n" << body << (body.back() == '\n' ? "" : "\n");
}

}  // namespace

int CommandPropose(const ProposeOptions& options, std::ostream& out) {
  Spec spec = LoadSpec(options.spec_path);
  const std::string tag = options.tag.empty() ? spec.name : options.tag;

  std::optional<TempDir> temp;
  std::optional<Workspace> workspace;
  std::optional<Store> store;
  std::optional<RunRow> run;
  if (!options.workspace.empty() && fs::exists(StorePath(options.workspace))) {
    workspace.emplace(Workspace::Open(options.workspace));
    store.emplace(Store::OpenReadOnly(StorePath(options.workspace)));
    run = store->FindRun(tag);
  } else {
    temp.emplace();
    workspace.emplace(Workspace::OpenOrCreate(temp->path() / "ws", spec.template_dir));
  }

  std::vector<HistoryEntry> history, prior;
  std::string base = workspace->BaselineCommit();
  nlohmann::json best_params;
  std::optional<double> best_metric;
  int64_t seq = 1;
  if (run) {
    history = HistoryOf(*store, run->id);
    seq = store->NextSeq(run->id);
    if (auto best = store->BestAccepted(run->id); best && best->commit) {
      base = *best->commit;
      best_params = nlohmann::json::parse(best->params_json, nullptr, false);
      best_metric = best->metric;
    }
    if (options.warm_start) prior = WarmStartHistory(*store, *run);
  }
  out << "dry run: experiment " << seq << " of run '" << tag << "' (proposer " << spec.proposer.kind
      << (run ? "" : ", new run") << ", " << history.size() << " experiments of history"
      << (options.warm_start ? ", " + std::to_string(prior.size()) + " from earlier runs" : "")
      << ")\n";

  // A throwaway worktree of its own (tag "<tag>-dryrun", slot = our pid), so
  // a run in progress on the same workspace is not disturbed.
  const std::string dry_tag = tag + "-dryrun";
  const int64_t slot = static_cast<int64_t>(::getpid());
  struct Cleanup {
    Workspace& ws;
    std::string tag;
    int64_t slot;
    ~Cleanup() {
      try {
        ws.RemoveCandidate(tag, slot);
      } catch (const Error&) {
      }
    }
  } cleanup{*workspace, dry_tag, slot};
  fs::path worktree = workspace->PrepareCandidate(dry_tag, slot, base);

  std::unique_ptr<Proposer> proposer = MakeProposer(spec);
  ProposalContext ctx{spec,       seq,         ProposalSeed(spec.proposer.seed, seq),
                      worktree,   best_params, history,
                      best_metric};
  ctx.prior = std::move(prior);
  Proposal proposal;
  try {
    proposal = proposer->Propose(ctx);
  } catch (const ProposalError& e) {
    if (options.show_prompt) {
      Section(out, "prompt", e.prompt());
      Section(out, "reply", e.reply());
    }
    out << "invalid: proposer failed: " << e.what() << "\n";
    return 1;
  }
  if (options.show_prompt) {
    Section(out, "prompt", proposal.prompt);
    Section(out, "reply", proposal.reply);
  }
  for (const std::string& note : proposal.notes) out << "note: " << note << "\n";
  out << "description: " << proposal.description << "\n";
  ChangeSet changes = workspace->Changes(worktree, base);
  if (changes.paths.empty()) {
    out << "invalid: the proposal changed nothing\n";
    return 1;
  }
  out << changes.stat << "\n";
  Section(out, "diff", changes.patch);
  if (auto violation = CheckChanges(changes, spec.mutable_globs)) {
    out << "invalid: " << *violation << "\n";
    return 1;
  }
  return 0;
}

}  // namespace ratchet

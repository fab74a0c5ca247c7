// The workspace: a git repository (libgit2 only, never a `git` subprocess)
// holding the experiment template and the history of a ratchet.
//
// Layout (see DESIGN.md "Workspace and git layout"):
//   refs/tags/ratchet-baseline   the template as first committed (BaselineCommit)
//   refs/heads/main              HEAD at creation, at the baseline
//   refs/heads/ratchet/<tag>     the ratchet of run <tag>: only accepted commits
//   refs/ratchet/<tag>/<seq>     every candidate commit, accepted or not
//   .ratchet/                    controller state, excluded via .git/info/exclude
//   .ratchet/worktrees/<tag>-<seq>  a candidate's own worktree, on the
//                                throwaway branch refs/heads/ratchet-wt/<tag>-<seq>
//
// Commits are authored and committed by "ratchet <ratchet@localhost>"; the
// user's git config is never read. Commit ids are 40-digit hex strings; ""
// means "none". Every libgit2 failure throws ratchet::Error naming the
// repository and the operation.
//
// A Workspace is not thread-safe (one libgit2 repository handle): give each
// thread its own (Open is cheap). Several handles or processes may share a
// workspace; ref updates are atomic (lock file + rename).
//
// Tags are restricted to letters, digits, '.', '_' and '-' (not leading '.'
// or '-'); others throw.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ratchet/git/change_set.h"

struct git_repository;

namespace ratchet {

class Workspace {
 public:
  // Opens `dir` if it is a ratchet workspace. Otherwise creates it: `dir` must
  // not exist or be an empty directory (else throws naming dir); the regular
  // files and directories of `template_dir` are copied (a symlink or special
  // file in the template throws; `.git` and `.ratchet` are skipped), committed
  // as the baseline on `main` (files the template's .gitignore ignores are
  // copied but not committed) and tagged `ratchet-baseline`. It is made in a
  // staging directory beside `dir` and renamed onto it, so a creation that
  // fails or is killed leaves `dir` as it was (the next call removes the
  // staging directory).
  static Workspace OpenOrCreate(const std::filesystem::path& dir,
                                const std::filesystem::path& template_dir);
  // Opens an existing workspace; throws if `dir` is not one.
  static Workspace Open(const std::filesystem::path& dir);

  Workspace(Workspace&&) noexcept;
  Workspace& operator=(Workspace&&) noexcept;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  // Absolute path of the workspace's working directory.
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& BaselineCommit() const { return baseline_; }

  // --- The ratchet branch refs/heads/ratchet/<tag> ---
  // Commit id the branch points at, or "" if it does not exist.
  std::string ResolveBranch(const std::string& tag);
  // Creates the branch at `commit`. Throws if it already exists.
  void CreateBranch(const std::string& tag, const std::string& commit);
  // Moves the branch (force) to `commit`. If HEAD is on that branch, the main
  // working directory is force-checked-out to `commit` (files deleted by the
  // move are removed; ignored files such as .ratchet/ are left alone).
  void AdvanceBranch(const std::string& tag, const std::string& commit);
  // Points HEAD at the (existing) branch and force-checks-out its files, so
  // the workspace folder and `git log` show that run's best state.
  void PointHeadAt(const std::string& tag);

  // --- Candidate worktrees ---
  // A fresh worktree at <dir>/.ratchet/worktrees/<tag>-<seq> with the files of
  // `base_commit`. Whatever a killed controller left under that name (dir,
  // admin data, branch) is removed first, so calling it again is safe.
  std::filesystem::path PrepareCandidate(const std::string& tag, int64_t seq,
                                         const std::string& base_commit);
  // Like PrepareCandidate, but reuses the worktree of `slot` when it is there:
  // its files are reset to `base_commit` (edits undone, untracked and ignored
  // files removed). The loop keeps one such slot per run, which spares
  // creating and deleting a worktree per experiment.
  std::filesystem::path ResetCandidate(const std::string& tag, int64_t slot,
                                       const std::string& base_commit);
  // Removes the worktree dir, its admin data and its throwaway branch.
  // Idempotent: missing pieces are not an error.
  void RemoveCandidate(const std::string& tag, int64_t seq);
  std::filesystem::path CandidatePath(const std::string& tag, int64_t seq) const;

  // Every path added/modified/deleted/renamed/type-changed in `worktree`
  // relative to `base_commit`, untracked files included, ignored files (and
  // .ratchet/) excluded, with stat line and unified patch.
  ChangeSet Changes(const std::filesystem::path& worktree, const std::string& base_commit);
  // Stages every change in `worktree` (relative to base_commit) and writes
  // the tree (and its blobs). No commit, no branch and no on-disk index
  // moves. Returns the tree id.
  std::string WriteCandidateTree(const std::filesystem::path& worktree,
                                 const std::string& base_commit);
  // A commit of `tree` whose single parent is `parent`, by ratchet. Moves no
  // ref. Returns the commit id.
  std::string CommitTree(const std::string& tree, const std::string& parent,
                         const std::string& message);
  // Three-way merge: the change from `base_commit` to `their_tree` carried
  // onto `our_commit` (a candidate built on a best that has moved on since).
  // Returns the merged tree's id, or "" when the two changes conflict.
  std::string MergeOnto(const std::string& base_commit, const std::string& their_tree,
                        const std::string& our_commit);
  // WriteCandidateTree, then CommitTree on base_commit.
  std::string CommitCandidate(const std::filesystem::path& worktree,
                              const std::string& base_commit, const std::string& message);

  // --- Commits ---
  // Tree id of a commit: equal trees <=> identical file contents and modes.
  std::string TreeOf(const std::string& commit);
  // A new commit with the tree, parents and author of `commit` and the given
  // message (e.g. with result trailers added). Moves no ref.
  std::string Recommit(const std::string& commit, const std::string& message);
  std::string Message(const std::string& commit);
  // Unified diff between two commits' trees; `from` == "" diffs from the empty tree.
  std::string Patch(const std::string& from, const std::string& to);
  // "N files changed, X insertions(+), Y deletions(-)", or "" if no change.
  std::string DiffStat(const std::string& from, const std::string& to);
  // Contents of `path` ('/'-separated) at `commit`; throws if absent.
  std::string ReadFileAt(const std::string& commit, const std::string& path);

  // Deletes lock files that a killed writer left behind (*.lock under
  // .git/refs; index.lock, HEAD.lock and packed-refs.lock of the repository
  // and of every worktree); git would refuse to update those forever.
  // REQUIRES: the caller holds the workspace lock, so no live writer owns them.
  void ClearStaleLocks();

  // --- Candidate refs refs/ratchet/<tag>/<seq> ---
  void SetCandidateRef(const std::string& tag, int64_t seq, const std::string& commit);
  std::string CandidateRef(const std::string& tag, int64_t seq);

 private:
  struct RepoDeleter {
    void operator()(git_repository* repo) const;
  };
  Workspace(std::filesystem::path dir, std::unique_ptr<git_repository, RepoDeleter> repo);
  static Workspace Create(const std::filesystem::path& dir, const std::filesystem::path& template_dir);

  std::string ResolveRef(const std::string& name);
  void CheckoutCommit(const std::string& from_commit, const std::string& to_commit);
  // The repository of a candidate worktree, kept open from one call to the
  // next: its in-memory index holds the stat data that lets a worktree diff
  // skip unchanged files, and opening costs ~50 system calls.
  git_repository* CandidateRepo(const std::filesystem::path& worktree);
  void ForgetCandidateRepo(const std::filesystem::path& worktree);

  std::filesystem::path dir_;
  std::unique_ptr<git_repository, RepoDeleter> repo_;
  std::string baseline_;
  std::filesystem::path candidate_dir_;  // whose repository candidate_repo_ is
  std::unique_ptr<git_repository, RepoDeleter> candidate_repo_;
};

// "Key: value" lines, one per pair, each ending in '\n'.
std::string FormatTrailers(const std::vector<std::pair<std::string, std::string>>& trailers);

// `message` without trailing blank lines, then the trailers: joined to its
// last paragraph if that is already a trailer block, else after a blank line.
std::string AppendTrailers(const std::string& message,
                           const std::vector<std::pair<std::string, std::string>>& trailers);

}  // namespace ratchet

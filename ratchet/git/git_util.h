// Thin RAII layer over libgit2 1.5, used only by workspace.cc. Every libgit2
// object gets a unique_ptr with its git_*_free deleter; the library is
// initialised once per process; every failing libgit2 call is turned into a
// ratchet::Error in exactly one place (Check), naming the repository and the
// operation.
#pragma once

#include <git2.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ratchet::git {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Free(p);
  }
};

using Repository = std::unique_ptr<git_repository, Deleter<git_repository_free>>;
using Commit = std::unique_ptr<git_commit, Deleter<git_commit_free>>;
using Tree = std::unique_ptr<git_tree, Deleter<git_tree_free>>;
using TreeEntry = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry_free>>;
using Blob = std::unique_ptr<git_blob, Deleter<git_blob_free>>;
using Index = std::unique_ptr<git_index, Deleter<git_index_free>>;
using Reference = std::unique_ptr<git_reference, Deleter<git_reference_free>>;
using Signature = std::unique_ptr<git_signature, Deleter<git_signature_free>>;
using Diff = std::unique_ptr<git_diff, Deleter<git_diff_free>>;
using DiffStats = std::unique_ptr<git_diff_stats, Deleter<git_diff_stats_free>>;
using Worktree = std::unique_ptr<git_worktree, Deleter<git_worktree_free>>;

// A git_buf disposed on scope exit.
struct Buf {
  git_buf buf = GIT_BUF_INIT;
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { git_buf_dispose(&buf); }
  std::string str() const { return buf.ptr ? std::string(buf.ptr, buf.size) : std::string(); }
};

// Initialises libgit2 once per process (shut down at exit) and detaches it
// from the user's system/global/XDG git config, so results never depend on it.
void EnsureInit();

// REQUIRES: rc is a libgit2 return code. Throws ratchet::Error
// "git <op> failed in <repo>: <git_error_last message>" when rc < 0.
void Check(int rc, const std::filesystem::path& repo, std::string_view op);

// Clears libgit2's thread-local error after an expected failure (e.g. NOTFOUND).
void ClearError();

std::string OidHex(const git_oid& oid);

// Throws (naming repo and op) if hex is not a full 40-digit object id.
git_oid ParseOid(const std::string& hex, const std::filesystem::path& repo, std::string_view op);

}  // namespace ratchet::git

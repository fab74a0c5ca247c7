#include "ratchet/git/git_util.h"


#include "base/error.h"

namespace ratchet::git {

namespace {

// Holds the libgit2 init count for the life of the process.
struct LibGit2 {
  LibGit2() {
    git_libgit2_init();
    // Empty search paths: no system/global/XDG config is read.
    for (int level : {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                      GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
  }
  ~LibGit2() { git_libgit2_shutdown(); }
};

}  // namespace

void EnsureInit() {
  static LibGit2 instance;
  (void)instance;
}

void Check(int rc, const std::filesystem::path& repo, std::string_view op) {
  if (rc >= 0) return;
  const git_error* e = git_error_last();
  std::string message = "git " + std::string(op) + " failed in " + repo.string() + ": " +
                        (e != nullptr && e->message != nullptr ? e->message : "unknown error") +
                        " (code " + std::to_string(rc) + ")";
  git_error_clear();
  throw Error(message);
}

void ClearError() { git_error_clear(); }

std::string OidHex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

git_oid ParseOid(const std::string& hex, const std::filesystem::path& repo, std::string_view op) {
  git_oid oid;
  if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex.c_str()) < 0) {
    git_error_clear();
    throw Error("git " + std::string(op) + " in " + repo.string() + ": '" + hex +
                "' is not a 40-digit commit id");
  }
  return oid;
}

}  // namespace ratchet::git

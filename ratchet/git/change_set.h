// What a candidate changed in its worktree relative to its base commit. Plain
// data, produced by Workspace::Changes and judged by CheckChanges
// (path_policy.h), so the policy is testable without git.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ratchet {

enum class ChangeKind { kAdded, kModified, kDeleted, kRenamed, kTypeChanged };

// "added", "modified", ...
const char* ChangeKindName(ChangeKind kind);

struct ChangedPath {
  ChangeKind kind = ChangeKind::kModified;
  std::string path;      // path in the worktree after the change ('/'-separated, relative)
  std::string old_path;  // path in the base commit; equals path unless renamed
  uint32_t old_mode = 0;  // git file mode in the base (0: absent), e.g. 0100644, 0120000 = symlink
  uint32_t new_mode = 0;  // git file mode in the worktree (0: deleted)
  bool is_symlink = false;    // the path is a symlink after the change
  bool mode_changed = false;  // both sides exist and their modes differ (e.g. +x, file->symlink)
};

struct ChangeSet {
  std::vector<ChangedPath> paths;
  std::string stat;   // "2 files changed, 3 insertions(+), 1 deletion(-)"; empty if none
  std::string patch;  // unified diff text, untracked files included
};

}  // namespace ratchet

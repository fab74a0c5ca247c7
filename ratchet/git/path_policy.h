// The path policy: which changes a candidate may make to its workspace. Only
// paths matched by the spec's `mutable` globs may change; symlinks, paths that
// escape the repository and anything under `.git` are refused outright.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ratchet/git/change_set.h"

namespace ratchet {

// Glob over '/'-separated relative paths: `*` matches any run of characters
// and `?` one character, both within one segment; a `**` segment matches zero
// or more whole segments ("src/**/*.py" matches "src/a.py" and "src/x/y/a.py").
// Everything else matches literally. The whole path must match.
bool GlobMatch(std::string_view glob, std::string_view path);

// The reason for the first violation in `changes`, or nullopt if every change
// is allowed. Checked per changed path (both sides of a rename), in order:
// absolute or `..` paths, paths inside `.git`, symlinks added or changed into
// one, then membership in `mutable_globs`, e.g.
// "params.json is mutable; harness.py is not: modified harness.py".
std::optional<std::string> CheckChanges(const ChangeSet& changes,
                                        const std::vector<std::string>& mutable_globs);

}  // namespace ratchet

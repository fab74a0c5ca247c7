#include "ratchet/git/path_policy.h"

namespace ratchet {

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAdded: return "added";
    case ChangeKind::kModified: return "modified";
    case ChangeKind::kDeleted: return "deleted";
    case ChangeKind::kRenamed: return "renamed";
    case ChangeKind::kTypeChanged: return "type-changed";
  }
  return "changed";
}

namespace {

// Matches one segment (no '/') against one glob segment with `*` and `?`.
bool SegmentMatch(std::string_view glob, std::string_view seg) {
  size_t g = 0, s = 0, star_g = std::string_view::npos, star_s = 0;
  while (s < seg.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == seg[s])) {
      ++g, ++s;
    } else if (g < glob.size() && glob[g] == '*') {
      star_g = g++;
      star_s = s;
    } else if (star_g != std::string_view::npos) {
      g = star_g + 1;
      s = ++star_s;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

bool MatchSegments(const std::vector<std::string_view>& g, size_t gi,
                   const std::vector<std::string_view>& p, size_t pi) {
  while (gi < g.size()) {
    if (g[gi] == "**") {
      // Try every number of swallowed segments, fewest first.
      for (size_t k = pi; k <= p.size(); ++k) {
        if (MatchSegments(g, gi + 1, p, k)) return true;
      }
      return false;
    }
    if (pi >= p.size() || !SegmentMatch(g[gi], p[pi])) return false;
    ++gi, ++pi;
  }
  return pi == p.size();
}

bool Escapes(std::string_view path) {
  if (path.empty() || path.front() == '/') return true;
  for (std::string_view seg : Split(path)) {
    if (seg == "..") return true;
  }
  return false;
}

bool InsideGit(std::string_view path) {
  for (std::string_view seg : Split(path)) {
    if (seg == ".git") return true;
  }
  return false;
}

std::string JoinGlobs(const std::vector<std::string>& globs) {
  std::string out;
  for (size_t i = 0; i < globs.size(); ++i) {
    if (i > 0) out += i + 1 == globs.size() ? " and " : ", ";
    out += globs[i];
  }
  return out;
}

std::string Describe(const ChangedPath& c) {
  std::string out = std::string(ChangeKindName(c.kind)) + " " + c.path;
  if (c.kind == ChangeKind::kRenamed) out += " (from " + c.old_path + ")";
  return out;
}

}  // namespace

bool GlobMatch(std::string_view glob, std::string_view path) {
  if (glob.empty() || path.empty()) return false;
  return MatchSegments(Split(glob), 0, Split(path), 0);
}

std::optional<std::string> CheckChanges(const ChangeSet& changes,
                                        const std::vector<std::string>& mutable_globs) {
  for (const ChangedPath& c : changes.paths) {
    std::vector<std::string_view> sides = {c.path};
    if (!c.old_path.empty() && c.old_path != c.path) sides.push_back(c.old_path);
    for (std::string_view p : sides) {
      if (Escapes(p)) return "path escapes the workspace: " + std::string(p);
      if (InsideGit(p)) return "path inside .git: " + std::string(p);
    }
    if (c.is_symlink) return "symlinks are not allowed: " + Describe(c) + " is a symlink";
    for (std::string_view p : sides) {
      bool allowed = false;
      for (const std::string& glob : mutable_globs) {
        if (GlobMatch(glob, p)) {
          allowed = true;
          break;
        }
      }
      if (allowed) continue;
      std::string head = mutable_globs.empty() ? std::string("nothing is mutable")
                         : JoinGlobs(mutable_globs) +
                               (mutable_globs.size() == 1 ? " is mutable" : " are mutable");
      return head + "; " + std::string(p) + " is not: " + Describe(c);
    }
  }
  return std::nullopt;
}

}  // namespace ratchet

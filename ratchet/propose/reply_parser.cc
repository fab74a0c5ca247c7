#include "ratchet/propose/reply_parser.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/fs.h"
#include "ratchet/propose/proposer.h"

namespace ratchet {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::string Trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

std::string TrimRight(std::string_view s) {
  size_t b = s.size();
  while (b > 0 && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(0, b));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string Quote(std::string_view text) {
  std::string s = Trim(text.substr(0, 80));
  std::replace(s.begin(), s.end(), '\n', ' ');
  return "\"" + s + (text.size() > 80 ? "...\"" : "\"");
}

struct Block {
  std::string info;
  std::string body;
  std::string before;  // the last non-empty line before the fence
  size_t first_line, last_line;
};

// Fenced code blocks (``` or ~~~, at least three, closed by the same
// character at least as long). An unclosed fence runs to the end.
std::vector<Block> FencedBlocks(const std::vector<std::string>& lines) {
  std::vector<Block> blocks;
  std::string before;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (t.size() >= 3 && (StartsWith(t, "```") || StartsWith(t, "~~~"))) {
      char fence = t[0];
      size_t n = t.find_first_not_of(fence);
      if (n == std::string::npos) n = t.size();
      Block b;
      b.info = Trim(t.substr(n));
      b.before = before;
      b.first_line = i;
      size_t j = i + 1;
      for (; j < lines.size(); ++j) {
        std::string u = Trim(lines[j]);
        size_t m = u.find_first_not_of(fence);
        if (u.size() >= n && m == std::string::npos) break;
        b.body += lines[j] + "\n";
      }
      b.last_line = j;
      blocks.push_back(std::move(b));
      i = j;
      before.clear();
      continue;
    }
    if (!t.empty()) before = t;
  }
  return blocks;
}

bool LooksLikePath(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/' || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  if (s.find('/') == std::string::npos && s.find('.') == std::string::npos) return false;
  return s.front() != '.' || StartsWith(s, "./");
}

std::string Unquote(std::string s) {
  while (!s.empty() && (s.front() == '"' || s.front() == '\'' || s.front() == '`')) s.erase(0, 1);
  while (!s.empty() && (s.back() == '"' || s.back() == '\'' || s.back() == '`')) s.pop_back();
  return s;
}

std::string NormalizePath(std::string p) {
  if (StartsWith(p, "./")) p = p.substr(2);
  return p;
}

// The file a fenced block is the whole contents of, if it names one.
std::optional<std::string> BlockPath(const Block& b) {
  std::istringstream tokens(b.info);
  std::string token;
  while (tokens >> token) {
    for (const char* key : {"path=", "file=", "filename=", "title="}) {
      if (StartsWith(token, key)) {
        std::string p = Unquote(token.substr(std::string(key).size()));
        if (LooksLikePath(p)) return NormalizePath(p);
      }
    }
    size_t colon = token.find(':');
    if (colon != std::string::npos) {
      std::string p = Unquote(token.substr(colon + 1));
      if (LooksLikePath(p)) return NormalizePath(p);
    }
    std::string p = Unquote(token);
    if (LooksLikePath(p)) return NormalizePath(p);
  }
  // "### train.py", "**`train.py`**", "File: train.py", "`train.py`:"
  std::string s = b.before;
  while (!s.empty() && (s.front() == '#' || s.front() == '*' || s.front() == '-' ||
                        std::isspace(static_cast<unsigned char>(s.front())))) {
    s.erase(0, 1);
  }
  for (const char* prefix : {"File:", "file:", "FILE:", "Path:", "path:", "Filename:"}) {
    if (StartsWith(s, prefix)) s = Trim(s.substr(std::string(prefix).size()));
  }
  while (!s.empty() && (s.back() == ':' || s.back() == '*' ||
                        std::isspace(static_cast<unsigned char>(s.back())))) {
    s.pop_back();
  }
  s = Unquote(s);
  if (LooksLikePath(s)) return NormalizePath(s);
  return std::nullopt;
}

bool IsDiffText(const std::string& body) {
  bool minus = false, plus = false, hunk = false;
  for (const std::string& line : SplitLines(body)) {
    minus = minus || StartsWith(line, "--- ");
    plus = plus || StartsWith(line, "+++ ");
    hunk = hunk || StartsWith(line, "@@");
  }
  return minus && plus && hunk;
}

std::optional<nlohmann::ordered_json> JsonObject(std::string_view text) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// The first line of prose: outside fenced blocks, not a file header, not JSON.
std::string Description(const std::vector<std::string>& lines, const std::vector<Block>& blocks) {
  std::vector<bool> in_block(lines.size(), false);
  for (const Block& b : blocks) {
    for (size_t i = b.first_line; i <= b.last_line && i < lines.size(); ++i) in_block[i] = true;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (in_block[i]) continue;
    std::string s = Trim(lines[i]);
    while (!s.empty() && (s.front() == '#' || s.front() == '*' || s.front() == '>' ||
                          s.front() == '-' || s.front() == ' ')) {
      s.erase(0, 1);
    }
    while (!s.empty() && s.back() == '*') s.pop_back();
    s = Trim(s);
    for (const char* prefix : {"Description:", "description:", "Change:", "Summary:"}) {
      if (StartsWith(s, prefix)) s = Trim(s.substr(std::string(prefix).size()));
    }
    if (s.empty() || s.front() == '{' || s.front() == '}' || s.front() == '"' ||
        StartsWith(s, "@@") || StartsWith(s, "++") || StartsWith(s, "diff ") ||
        StartsWith(s, "File:") ||
        LooksLikePath(Unquote(s.back() == ':' ? s.substr(0, s.size() - 1) : s))) {
      continue;
    }
    if (s.size() > 200) s = s.substr(0, 197) + "...";
    return s;
  }
  return "";
}

}  // namespace

std::string StripThinking(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("<think>", pos);
    if (open == std::string_view::npos) {
      out += text.substr(pos);
      break;
    }
    out += text.substr(pos, open - pos);
    size_t close = text.find("</think>", open);
    if (close == std::string_view::npos) break;
    pos = close + 8;
  }
  return out;
}

ParsedReply ParseReply(std::string_view raw) {
  const std::string text = StripThinking(raw);
  const std::vector<std::string> lines = SplitLines(text);
  const std::vector<Block> blocks = FencedBlocks(lines);
  ParsedReply reply;
  reply.description = Description(lines, blocks);

  // 1. A unified diff, fenced or bare.
  for (const Block& b : blocks) {
    std::string info = b.info.substr(0, b.info.find(' '));
    if (info == "diff" || info == "patch" || IsDiffText(b.body)) {
      if (IsDiffText(b.body)) reply.diff += b.body;
    }
  }
  if (reply.diff.empty() && blocks.empty() && IsDiffText(text)) {
    size_t start = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (StartsWith(lines[i], "diff --git") ||
          (StartsWith(lines[i], "--- ") && i + 1 < lines.size() &&
           StartsWith(lines[i + 1], "+++ "))) {
        start = i;
        break;
      }
    }
    for (size_t i = start; i < lines.size(); ++i) reply.diff += lines[i] + "\n";
  }
  if (!reply.diff.empty()) {
    reply.kind = ParsedReply::Kind::kDiff;
    return reply;
  }

  // 2. Whole files in fenced blocks that name their path.
  for (const Block& b : blocks) {
    if (auto path = BlockPath(b)) reply.files.push_back({*path, b.body});
  }
  if (!reply.files.empty()) {
    reply.kind = ParsedReply::Kind::kFiles;
    return reply;
  }

  // 3. A JSON object of parameter changes.
  std::optional<nlohmann::ordered_json> object = JsonObject(text);
  for (size_t i = 0; !object && i < blocks.size(); ++i) object = JsonObject(blocks[i].body);
  if (!object) {
    size_t open = text.find('{'), close = text.rfind('}');
    if (open != std::string::npos && close != std::string::npos && open < close) {
      object = JsonObject(std::string_view(text).substr(open, close - open + 1));
    }
  }
  if (object) {
    nlohmann::ordered_json params = *object;
    for (const char* wrapper : {"params", "changes", "parameters"}) {
      auto it = object->find(wrapper);
      if (it != object->end() && it->is_object()) {
        bool only_meta = true;
        for (const auto& item : object->items()) {
          only_meta = only_meta && (item.key() == wrapper || item.key() == "description");
        }
        if (only_meta) params = *it;
      }
    }
    auto d = object->find("description");
    if (d != object->end() && d->is_string()) {
      reply.description = Trim(d->get<std::string>());
      if (params == *object) params.erase("description");
    }
    if (params.empty()) {
      throw ProposalError("the reply's JSON object changes no parameter: " + Quote(text));
    }
    reply.kind = ParsedReply::Kind::kParams;
    reply.params = std::move(params);
    return reply;
  }
  throw ProposalError(
      "the reply holds no JSON object of parameter changes, no unified diff and no fenced "
      "file block: " +
      Quote(text));
}

fs::path SafeJoin(const fs::path& root, const std::string& relative) {
  fs::path rel(relative);
  if (relative.empty() || rel.is_absolute()) {
    throw ProposalError("refusing path \"" + relative + "\": not a relative path");
  }
  fs::path joined = root;
  for (const fs::path& part : rel) {
    if (part == "..") throw ProposalError("refusing path \"" + relative + "\": contains '..'");
    if (part == ".git") throw ProposalError("refusing path \"" + relative + "\": inside .git");
    if (part == "." || part.empty()) continue;
    joined /= part;
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(joined, ec))) {
      throw ProposalError("refusing path \"" + relative + "\": goes through a symlink");
    }
  }
  return joined;
}

namespace {

struct Hunk {
  size_t old_start = 0;  // 1-based hint
  std::vector<std::string> old_lines, new_lines;
  bool new_no_newline = false;
};

struct FilePatch {
  std::string old_path, new_path;  // "" for /dev/null
  std::vector<Hunk> hunks;
};

std::string PatchPath(std::string s) {
  size_t tab = s.find('\t');
  if (tab != std::string::npos) s = s.substr(0, tab);
  s = Trim(s);
  if (s == "/dev/null") return "";
  if (StartsWith(s, "a/") || StartsWith(s, "b/")) s = s.substr(2);
  return NormalizePath(Unquote(s));
}

std::vector<FilePatch> ParseDiff(std::string_view diff) {
  std::vector<std::string> lines = SplitLines(diff);
  std::vector<FilePatch> patches;
  size_t i = 0;
  while (i < lines.size()) {
    if (!(StartsWith(lines[i], "--- ") && i + 1 < lines.size() &&
          StartsWith(lines[i + 1], "+++ "))) {
      ++i;
      continue;
    }
    FilePatch patch;
    patch.old_path = PatchPath(lines[i].substr(4));
    patch.new_path = PatchPath(lines[i + 1].substr(4));
    i += 2;
    while (i < lines.size() && StartsWith(lines[i], "@@")) {
      Hunk hunk;
      // "@@ -12,5 +12,6 @@": only the old start is used, as a hint.
      size_t minus = lines[i].find('-');
      if (minus != std::string::npos)
        hunk.old_start = std::strtoul(lines[i].c_str() + minus + 1, nullptr, 10);
      ++i;
      for (; i < lines.size(); ++i) {
        const std::string& l = lines[i];
        if (StartsWith(l, "@@") || StartsWith(l, "diff ") ||
            (StartsWith(l, "--- ") && i + 1 < lines.size() && StartsWith(lines[i + 1], "+++ "))) {
          break;
        }
        if (l.empty()) {  // a blank context line whose space was lost
          hunk.old_lines.push_back("");
          hunk.new_lines.push_back("");
        } else if (l[0] == ' ') {
          hunk.old_lines.push_back(l.substr(1));
          hunk.new_lines.push_back(l.substr(1));
        } else if (l[0] == '-') {
          hunk.old_lines.push_back(l.substr(1));
        } else if (l[0] == '+') {
          hunk.new_lines.push_back(l.substr(1));
          hunk.new_no_newline = false;
        } else if (l[0] == '\\') {
          if (i > 0 && !lines[i - 1].empty() && lines[i - 1][0] == '+') hunk.new_no_newline = true;
        } else {
          break;  // prose after the diff
        }
      }
      // Trailing blank "context" lines are usually the end of the message.
      while (!hunk.old_lines.empty() && !hunk.new_lines.empty() && hunk.old_lines.back().empty() &&
             hunk.new_lines.back().empty()) {
        hunk.old_lines.pop_back();
        hunk.new_lines.pop_back();
      }
      patch.hunks.push_back(std::move(hunk));
    }
    patches.push_back(std::move(patch));
  }
  if (patches.empty()) throw ProposalError("the diff has no ---/+++ file header");
  return patches;
}

bool LinesMatch(const std::vector<std::string>& file, size_t at,
                const std::vector<std::string>& want, bool loose) {
  if (at + want.size() > file.size()) return false;
  for (size_t k = 0; k < want.size(); ++k) {
    if (loose ? TrimRight(file[at + k]) != TrimRight(want[k]) : file[at + k] != want[k])
      return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> ApplyUnifiedDiff(const fs::path& root, std::string_view diff) {
  std::vector<FilePatch> patches = ParseDiff(diff);
  struct Result {
    fs::path target;
    std::optional<std::string> contents;  // nullopt: delete
  };
  std::vector<Result> results;
  std::vector<std::string> changed;
  for (const FilePatch& patch : patches) {
    const std::string& name = patch.new_path.empty() ? patch.old_path : patch.new_path;
    if (name.empty()) throw ProposalError("the diff names no file (/dev/null on both sides)");
    fs::path source = patch.old_path.empty() ? fs::path() : SafeJoin(root, patch.old_path);
    fs::path target = SafeJoin(root, name);
    std::vector<std::string> file;
    bool ends_with_newline = true;
    if (!patch.old_path.empty()) {
      if (!fs::is_regular_file(source)) {
        throw ProposalError("the diff changes " + patch.old_path + ", which does not exist");
      }
      std::string text = ReadFile(source);
      ends_with_newline = text.empty() || text.back() == '\n';
      file = SplitLines(text);
    }
    long offset = 0;
    for (size_t h = 0; h < patch.hunks.size(); ++h) {
      const Hunk& hunk = patch.hunks[h];
      long hint = static_cast<long>(hunk.old_start == 0 ? 0 : hunk.old_start - 1) + offset;
      hint = std::clamp<long>(hint, 0, static_cast<long>(file.size()));
      std::optional<size_t> at;
      if (hunk.old_lines.empty()) {
        at = static_cast<size_t>(hint);
      } else {
        for (bool loose : {false, true}) {
          for (long d = 0; !at && d <= static_cast<long>(file.size()); ++d) {
            for (long cand : {hint - d, hint + d}) {
              if (cand >= 0 && LinesMatch(file, static_cast<size_t>(cand), hunk.old_lines, loose)) {
                at = static_cast<size_t>(cand);
                break;
              }
            }
          }
          if (at) break;
        }
      }
      if (!at) {
        throw ProposalError("hunk " + std::to_string(h + 1) + " of " + name +
                            " does not apply (its old lines are not in the file)");
      }
      file.erase(file.begin() + static_cast<long>(*at),
                 file.begin() + static_cast<long>(*at + hunk.old_lines.size()));
      file.insert(file.begin() + static_cast<long>(*at), hunk.new_lines.begin(),
                  hunk.new_lines.end());
      offset += static_cast<long>(hunk.new_lines.size()) - static_cast<long>(hunk.old_lines.size());
      if (h + 1 == patch.hunks.size() && hunk.new_no_newline) ends_with_newline = false;
    }
    if (patch.new_path.empty()) {
      results.push_back({source, std::nullopt});
      changed.push_back(patch.old_path);
      continue;
    }
    std::string out;
    for (size_t k = 0; k < file.size(); ++k) {
      out += file[k];
      if (k + 1 < file.size() || ends_with_newline) out += "\n";
    }
    if (!patch.old_path.empty() && patch.old_path != patch.new_path) {
      results.push_back({source, std::nullopt});
    }
    results.push_back({target, out});
    changed.push_back(name);
  }
  // Everything applied in memory: only now touch the files.
  for (const Result& r : results) {
    if (r.contents) {
      fs::create_directories(r.target.parent_path());
      WriteFileAtomic(r.target, *r.contents);
    } else {
      fs::remove(r.target);
    }
  }
  return changed;
}

void WriteFiles(const fs::path& root, const std::vector<FileEdit>& files) {
  std::vector<fs::path> targets;
  for (const FileEdit& f : files) targets.push_back(SafeJoin(root, f.path));
  for (size_t i = 0; i < files.size(); ++i) {
    fs::create_directories(targets[i].parent_path());
    WriteFileAtomic(targets[i], files[i].contents);
  }
}

namespace {

std::string Show(const nlohmann::json* v) {
  if (v == nullptr) return "(unset)";
  return v->is_string() ? v->get<std::string>() : v->dump();
}

void Flatten(const nlohmann::json& config, const SearchSpace& space, const std::string& prefix,
             const nlohmann::ordered_json& object,
             std::vector<std::pair<std::string, nlohmann::json>>& out) {
  for (const auto& item : object.items()) {
    std::string key = prefix.empty() ? item.key() : prefix + "." + item.key();
    const nlohmann::json* existing = GetPath(config, key);
    if (space.Find(key) == nullptr && item.value().is_object() && existing &&
        existing->is_object()) {
      Flatten(config, space, key, item.value(), out);
    } else {
      out.emplace_back(key, nlohmann::json::parse(item.value().dump()));
    }
  }
}

}  // namespace

std::string ApplyParams(const fs::path& root, const std::string& config, const SearchSpace& space,
                        const nlohmann::ordered_json& params, nlohmann::json* full_config) {
  if (config.empty()) {
    throw ProposalError(
        "the reply is a JSON object of parameters, but the spec sets no proposer.config");
  }
  fs::path file = SafeJoin(root, config);
  nlohmann::ordered_json ordered =
      nlohmann::ordered_json::parse(ReadFile(file), nullptr, /*allow_exceptions=*/false);
  if (ordered.is_discarded() || !ordered.is_object()) {
    throw Error(file.string() + ": not a JSON object (proposer.config)");
  }
  const nlohmann::json before = nlohmann::json::parse(ordered.dump());
  std::vector<std::pair<std::string, nlohmann::json>> changes;
  Flatten(before, space, "", params, changes);  // in the reply's order

  nlohmann::json after = before;
  std::string description;
  for (auto& [key, value] : changes) {
    const Param* p = space.Find(key);
    if (p != nullptr) {
      if (!space.Contains(*p, value)) {
        throw ProposalError(key + ": " + value.dump() + " is not a legal value of this parameter");
      }
      if (p->type == Param::Type::kInt) value = static_cast<int64_t>(value.get<double>());
    } else if (GetPath(before, key) == nullptr) {
      throw ProposalError(key + ": not a parameter of " + config);
    }
    const nlohmann::json* old = GetPath(before, key);
    if (old != nullptr && *old == value) continue;
    description +=
        (description.empty() ? "" : ", ") + key + " " + Show(old) + " -> " + Show(&value);
    SetPath(after, key, value);
    SetPath(ordered, key, nlohmann::ordered_json::parse(value.dump()));
  }
  for (const Param& p : space.params) {
    const nlohmann::json* a = GetPath(before, p.name);
    const nlohmann::json* b = GetPath(after, p.name);
    bool changed = (a == nullptr) != (b == nullptr) || (a && b && *a != *b);
    if (changed && !space.IsActive(p, after)) {
      throw ProposalError(p.name + ": inactive under the proposed config (see its \"when\")");
    }
  }
  if (description.empty()) throw ProposalError("the reply's parameters equal the current config");
  WriteFileAtomic(file, ordered.dump(2) + "\n");
  if (full_config) *full_config = after;
  return description;
}

}  // namespace ratchet

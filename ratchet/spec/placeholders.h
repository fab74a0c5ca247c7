// Placeholders in command arguments. Commands are argv arrays, never shell
// strings; each argument may hold any number of `{name}` placeholders, which
// are replaced by the controller's values one argument at a time, so a value
// holding spaces or quotes stays one argument. `{{` and `}}` are literal
// braces. The known names are listed in docs/spec.md (kKnownPlaceholders).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ratchet {

using Vars = std::map<std::string, std::string>;

// Every name a spec may use: workspace run_dir seed budget budget_kind threads
// spec_dir bin_dir cache_dir train_data data_dir.
extern const std::vector<std::string> kKnownPlaceholders;

// True if `name` is one of kKnownPlaceholders.
bool IsKnownPlaceholder(const std::string& name);

// The placeholder names in `arg`, in order of appearance (repeats kept).
// Throws Error on an unbalanced brace (a `{` without `}`, a lone `}`) or an
// empty or malformed name (names are [a-z0-9_]+).
std::vector<std::string> PlaceholderNames(const std::string& arg);

// Substitutes every placeholder of every argument. Throws Error naming the
// placeholder and the argument when a name is not in `vars` (an unknown name,
// or one not available to this command such as {data_dir} for train), and on
// malformed braces as PlaceholderNames does.
std::string Substitute(const std::string& arg, const Vars& vars);
std::vector<std::string> Substitute(const std::vector<std::string>& argv, const Vars& vars);

}  // namespace ratchet

#include "ratchet/spec/spec.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/spec/json_check.h"
#include "ratchet/spec/placeholders.h"

namespace ratchet {

double Budget::Amount() const {
  return kind == Kind::kTime ? seconds : static_cast<double>(tokens);
}

std::string Budget::AmountText() const {
  if (kind == Kind::kTokens) return std::to_string(tokens);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", seconds);  // 300 -> "300", not "300.000000"
  return buf;
}

std::string Budget::KindName() const { return kind == Kind::kTime ? "time" : "tokens"; }

bool MetricSpec::Better(double a, double b) const {
  return goal == Goal::kMinimize ? a < b : a > b;
}

double TrainDeadlineSeconds(const Spec& spec) {
  if (spec.train.timeout_seconds > 0) return spec.train.timeout_seconds;
  return spec.budget.seconds * spec.train.timeout_factor + spec.train.grace_seconds;
}

namespace {

// Proposer kinds known to the spec, with the keys each reads beyond the
// common ones (kind, config, seed, plateau). New kinds (issue 4) add a row.
struct ProposerKind {
  const char* name;
  bool search;  // works on proposer.config over the search space
  std::vector<std::string> keys;
};
const std::vector<ProposerKind>& ProposerKinds() {
  static const std::vector<ProposerKind> kinds = {
      {"random", true, {}},
      {"local", true, {"step"}},
      {"evolution", true, {"step", "population"}},
      {"tpe", true, {"startup", "candidates", "normalized_kernels", "multivariate"}},
      {"additive", true, {"startup", "candidates", "step"}},
      {"command", false, {"argv", "timeout_seconds", "program", "history"}},
      {"openai", false,
       {"model", "base_url", "api_key_env", "timeout_seconds", "retries", "retry_delay_seconds",
        "temperature", "max_tokens", "system", "program", "history"}},
  };
  return kinds;
}
const ProposerKind* FindProposerKind(const std::string& name) {
  for (const ProposerKind& k : ProposerKinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

using namespace json_check;

// What each command or path may name. The train command must never see the
// held-out data, so {data_dir} is evaluate-only.
enum class Use { kTrain, kEvaluate, kPrepare, kDataDir, kImmutable };

void CheckPlaceholders(const Checker& c, const std::string& arg, const std::string& path, Use use,
                       bool have_data) {
  std::vector<std::string> names;
  try {
    names = PlaceholderNames(arg);
  } catch (const Error& e) {
    c.Fail(path, e.what());
  }
  static const std::set<std::string> kStatic = {"spec_dir", "bin_dir", "cache_dir"};
  for (const std::string& name : names) {
    if (!IsKnownPlaceholder(name)) {
      c.Fail(path,
             "unknown placeholder {" + name + "} (known: " + Join(kKnownPlaceholders, ", ") + ")");
    }
    if (use == Use::kTrain && name == "data_dir") {
      c.Fail(path,
             "{data_dir} is for the evaluate command only: the train command must never see "
             "held-out data (use {train_data})");
    }
    if ((name == "data_dir" || name == "train_data") && !have_data) {
      c.Fail(path, "{" + name + "} needs a \"data\" section");
    }
    bool ok = true;
    switch (use) {
      case Use::kTrain:
      case Use::kEvaluate:
        break;
      case Use::kPrepare:
        ok = kStatic.count(name) || name == "data_dir" || name == "threads";
        break;
      case Use::kDataDir:
        ok = kStatic.count(name) > 0;
        break;
      case Use::kImmutable:
        ok = kStatic.count(name) || name == "data_dir";
        break;
    }
    if (!ok) c.Fail(path, "{" + name + "} is not available here");
  }
}

std::vector<std::string> Argv(const Checker& c, const OJson& v, const std::string& path, Use use,
                              bool have_data) {
  std::vector<std::string> argv = c.Strings(v, path);
  if (argv.empty()) c.Fail(path, "must not be empty");
  if (argv[0].empty()) c.Fail(Index(path, 0), "the program must not be empty");
  for (size_t i = 0; i < argv.size(); ++i) {
    CheckPlaceholders(c, argv[i], Index(path, i), use, have_data);
  }
  return argv;
}

Budget ParseBudget(const Checker& c, const OJson& json) {
  Object o(c, json, "budget", {"kind", "seconds", "tokens"});
  Budget b;
  std::string kind = c.Choice(o.Required("kind"), o.Path("kind"), {"time", "tokens"});
  if (kind == "time") {
    b.kind = Budget::Kind::kTime;
    b.seconds = c.Positive(o.Required("seconds"), o.Path("seconds"));
    if (o.Find("tokens")) c.Fail(o.Path("tokens"), "not used by budget kind time");
  } else {
    b.kind = Budget::Kind::kTokens;
    b.tokens = c.IntegerAtLeast(o.Required("tokens"), o.Path("tokens"), 1);
    if (o.Find("seconds")) c.Fail(o.Path("seconds"), "not used by budget kind tokens");
  }
  return b;
}

DataSpec ParseData(const Checker& c, const OJson& json) {
  Object o(c, json, "data", {"dir", "train", "heldout", "prepare"});
  DataSpec d;
  d.dir = c.NonEmptyString(o.Required("dir"), o.Path("dir"));
  CheckPlaceholders(c, d.dir, o.Path("dir"), Use::kDataDir, true);
  for (const char* key : {"train", "heldout"}) {
    std::vector<std::string>& files = std::string(key) == "train" ? d.train : d.heldout;
    if (const OJson* v = o.Find(key)) {
      if (!v->is_array()) c.Expected(o.Path(key), "an array of strings", *v);
      for (size_t i = 0; i < v->size(); ++i) {
        files.push_back(c.RelativePath((*v)[i], Index(o.Path(key), i)));
      }
    }
  }
  for (const std::string& f : d.train) {
    if (std::find(d.heldout.begin(), d.heldout.end(), f) != d.heldout.end()) {
      c.Fail(o.Path("train"), "\"" + f + "\" is also a held-out file");
    }
  }
  if (const OJson* v = o.Find("prepare")) {
    if (v->is_array() && v->empty()) return d;  // [] means no prepare step
    d.prepare = Argv(c, *v, o.Path("prepare"), Use::kPrepare, true);
  }
  return d;
}

CommandSpec ParseTrain(const Checker& c, const OJson& json, bool have_data) {
  Object o(c, json, "train",
           {"argv", "timeout_factor", "grace_seconds", "timeout_seconds", "invalid_exit_code"});
  CommandSpec cmd;
  cmd.argv = Argv(c, o.Required("argv"), o.Path("argv"), Use::kTrain, have_data);
  if (auto v = o.Find("timeout_factor"))
    cmd.timeout_factor = c.Positive(*v, o.Path("timeout_factor"));
  if (auto v = o.Find("grace_seconds"))
    cmd.grace_seconds = c.NonNegative(*v, o.Path("grace_seconds"));
  if (auto v = o.Find("timeout_seconds"))
    cmd.timeout_seconds = c.Positive(*v, o.Path("timeout_seconds"));
  if (auto v = o.Find("invalid_exit_code")) {
    const int64_t code = c.IntegerAtLeast(*v, o.Path("invalid_exit_code"), 1);
    if (code > 255) c.Fail(o.Path("invalid_exit_code"), "an exit status is at most 255");
    cmd.invalid_exit_code = static_cast<int>(code);
  }
  return cmd;
}

CommandSpec ParseEvaluate(const Checker& c, const OJson& json, bool have_data) {
  Object o(c, json, "evaluate", {"argv", "timeout_seconds"});
  CommandSpec cmd;
  cmd.argv = Argv(c, o.Required("argv"), o.Path("argv"), Use::kEvaluate, have_data);
  cmd.timeout_seconds = 600;
  if (auto v = o.Find("timeout_seconds"))
    cmd.timeout_seconds = c.Positive(*v, o.Path("timeout_seconds"));
  return cmd;
}

MetricSpec ParseMetric(const Checker& c, const OJson& json) {
  Object o(c, json, "metric", {"name", "goal", "format"});
  MetricSpec m;
  m.name = c.NonEmptyString(o.Required("name"), o.Path("name"));
  if (auto v = o.Find("goal")) {
    m.goal = c.Choice(*v, o.Path("goal"), {"minimize", "maximize"}) == "minimize"
                 ? MetricSpec::Goal::kMinimize
                 : MetricSpec::Goal::kMaximize;
  }
  if (auto v = o.Find("format")) {
    m.format = c.Choice(*v, o.Path("format"), {"json", "kv"}) == "json"
                   ? MetricSpec::Format::kJson
                   : MetricSpec::Format::kKeyValue;
  }
  return m;
}

AcceptanceSpec ParseAcceptance(const Checker& c, const OJson& json) {
  Object o(c, json, "acceptance",
           {"policy", "calibration", "repeats", "min_delta", "max_improvement", "alpha",
            "extend_above"});
  AcceptanceSpec a;
  if (auto v = o.Find("policy")) {
    std::string p = c.Choice(*v, o.Path("policy"), {"strict", "threshold", "confirm"});
    a.policy = p == "strict"      ? AcceptanceSpec::Policy::kStrict
               : p == "threshold" ? AcceptanceSpec::Policy::kThreshold
                                  : AcceptanceSpec::Policy::kConfirm;
  }
  if (auto v = o.Find("calibration")) {
    a.calibration = static_cast<int>(c.IntegerAtLeast(*v, o.Path("calibration"), 0));
  }
  if (auto v = o.Find("repeats"))
    a.repeats = static_cast<int>(c.IntegerAtLeast(*v, o.Path("repeats"), 0));
  if (auto v = o.Find("min_delta")) a.min_delta = c.NonNegative(*v, o.Path("min_delta"));
  if (auto v = o.Find("max_improvement"))
    a.max_improvement = c.Positive(*v, o.Path("max_improvement"));
  if (auto v = o.Find("alpha")) {
    a.alpha = c.Positive(*v, o.Path("alpha"));
    if (a.alpha >= 0.5) c.Fail(o.Path("alpha"), "must be below 0.5, got " + v->dump());
  }
  if (auto v = o.Find("extend_above")) {
    a.extend_above = c.NonNegative(*v, o.Path("extend_above"));
    if (a.extend_above >= 1) {
      c.Fail(o.Path("extend_above"), "must be below 1 (a fraction of the critical t), got " +
                                         v->dump());
    }
  }
  // The noise floor is a spread: it takes at least two baseline measurements.
  if (a.policy == AcceptanceSpec::Policy::kConfirm && a.calibration < 2) {
    c.Fail(o.Path("calibration"),
           "must be at least 2 for policy confirm (the noise is a spread), got " +
               std::to_string(a.calibration));
  }
  return a;
}

// The keys of the kinds added by issue 4 (evolution, tpe, command, openai);
// each proposer reads its own from ProposerSpec::options.
void ParseProposerKindKeys(const Checker& c, const Object& o, const std::string& kind) {
  if (auto v = o.Find("population")) c.IntegerAtLeast(*v, o.Path("population"), 2);
  if (auto v = o.Find("startup")) c.IntegerAtLeast(*v, o.Path("startup"), 1);
  if (auto v = o.Find("candidates")) c.IntegerAtLeast(*v, o.Path("candidates"), 1);
  if (auto v = o.Find("normalized_kernels")) c.Bool(*v, o.Path("normalized_kernels"));
  if (auto v = o.Find("multivariate")) c.Bool(*v, o.Path("multivariate"));
  if (auto v = o.Find("timeout_seconds")) c.Positive(*v, o.Path("timeout_seconds"));
  if (auto v = o.Find("program")) c.RelativePath(*v, o.Path("program"));
  if (auto v = o.Find("history")) c.IntegerAtLeast(*v, o.Path("history"), 0);
  if (kind == "command") {
    // The agent's argv: its own placeholders, substituted per argument.
    static const std::set<std::string> kAgentPlaceholders = {"prompt_file", "workspace", "seed",
                                                             "seq"};
    const OJson& argv = o.Required("argv");
    std::vector<std::string> args = c.Strings(argv, o.Path("argv"));
    if (args.empty()) c.Fail(o.Path("argv"), "must not be empty");
    if (args[0].empty()) c.Fail(Index(o.Path("argv"), 0), "the program must not be empty");
    for (size_t i = 0; i < args.size(); ++i) {
      std::vector<std::string> names;
      try {
        names = PlaceholderNames(args[i]);
      } catch (const Error& e) {
        c.Fail(Index(o.Path("argv"), i), e.what());
      }
      for (const std::string& name : names) {
        if (!kAgentPlaceholders.count(name)) {
          c.Fail(Index(o.Path("argv"), i),
                 "unknown placeholder {" + name + "} (known: prompt_file, workspace, seed, seq)");
        }
      }
    }
  }
  if (kind == "openai") {
    c.NonEmptyString(o.Required("model"), o.Path("model"));
    if (auto v = o.Find("base_url")) {
      std::string url = c.NonEmptyString(*v, o.Path("base_url"));
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        c.Fail(o.Path("base_url"), "must start with http:// or https://, got \"" + url + "\"");
      }
    }
    if (auto v = o.Find("api_key_env")) {
      // The NAME of a variable: the key itself never goes into a spec.
      std::string name = c.NonEmptyString(*v, o.Path("api_key_env"));
      bool ok = !std::isdigit(static_cast<unsigned char>(name[0]));
      for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
      if (!ok) {
        c.Fail(o.Path("api_key_env"),
               "must name an environment variable (letters, digits, '_'), not hold the key");
      }
    }
    if (auto v = o.Find("retries")) c.IntegerAtLeast(*v, o.Path("retries"), 0);
    if (auto v = o.Find("retry_delay_seconds")) c.NonNegative(*v, o.Path("retry_delay_seconds"));
    if (auto v = o.Find("temperature")) c.NonNegative(*v, o.Path("temperature"));
    if (auto v = o.Find("max_tokens")) c.IntegerAtLeast(*v, o.Path("max_tokens"), 1);
    if (auto v = o.Find("system")) c.String(*v, o.Path("system"));
  }
}

ProposerSpec ParseProposer(const Checker& c, const OJson& json) {
  if (!json.is_object()) c.Expected("proposer", "an object", json);
  ProposerSpec p;
  if (auto it = json.find("kind"); it != json.end() && !it->is_null()) {
    std::vector<std::string> names;
    for (const ProposerKind& k : ProposerKinds()) names.push_back(k.name);
    p.kind = c.Choice(*it, "proposer.kind", names);
  }
  std::vector<std::string> keys = {"kind", "config", "seed", "plateau"};
  for (const std::string& k : FindProposerKind(p.kind)->keys) keys.push_back(k);
  Object o(c, json, "proposer", keys);
  if (auto v = o.Find("config")) p.config = c.RelativePath(*v, o.Path("config"));
  if (auto v = o.Find("seed"))
    p.seed = static_cast<uint64_t>(c.IntegerAtLeast(*v, o.Path("seed"), 0));
  if (auto v = o.Find("plateau"))
    p.plateau = static_cast<int>(c.IntegerAtLeast(*v, o.Path("plateau"), 1));
  if (auto v = o.Find("step")) {
    double step = c.Positive(*v, o.Path("step"));
    if (step > 1)
      c.Fail(o.Path("step"), "must be at most 1 (a fraction of the range), got " + Shown(*v));
  }
  ParseProposerKindKeys(c, o, p.kind);
  p.options = nlohmann::json::parse(json.dump());
  return p;
}

Param ParseParam(const Checker& c, const std::string& name, const OJson& json) {
  std::string path = "search_space." + name;
  if (name.empty() || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string::npos) {
    c.Fail(path, "a parameter name is a dotted path such as \"optim.lr\"");
  }
  if (!json.is_object()) c.Expected(path, "an object", json);
  Param p;
  p.name = name;
  auto type_it = json.find("type");
  if (type_it == json.end()) c.Fail(path + ".type", "required key is missing");
  std::string type = c.Choice(*type_it, path + ".type", {"float", "int", "choice", "bool"});
  std::vector<std::string> keys = {"type", "when"};
  if (type == "float" || type == "int") {
    keys.insert(keys.end(), {"min", "max", "log"});
  } else if (type == "choice") {
    keys.push_back("values");
  }
  Object o(c, json, path, keys);
  if (type == "float" || type == "int") {
    p.type = type == "float" ? Param::Type::kFloat : Param::Type::kInt;
    const OJson& min = o.Required("min");
    const OJson& max = o.Required("max");
    if (p.type == Param::Type::kInt) {
      p.min = static_cast<double>(c.Integer(min, o.Path("min")));
      p.max = static_cast<double>(c.Integer(max, o.Path("max")));
    } else {
      p.min = c.Number(min, o.Path("min"));
      p.max = c.Number(max, o.Path("max"));
    }
    if (!(p.min < p.max)) {
      c.Fail(path, "min (" + Shown(min) + ") must be below max (" + Shown(max) + ")");
    }
    if (auto v = o.Find("log")) p.log = c.Bool(*v, o.Path("log"));
    if (p.log && !(p.min > 0))
      c.Fail(o.Path("min"), "must be > 0 on a log scale, got " + Shown(min));
  } else if (type == "choice") {
    p.type = Param::Type::kChoice;
    const OJson& values = o.Required("values");
    if (!values.is_array() || values.empty())
      c.Expected(o.Path("values"), "a non-empty array", values);
    for (size_t i = 0; i < values.size(); ++i) {
      nlohmann::json v = nlohmann::json::parse(values[i].dump());
      if (std::find(p.values.begin(), p.values.end(), v) != p.values.end()) {
        c.Fail(Index(o.Path("values"), i), "duplicate value " + Shown(values[i]));
      }
      p.values.push_back(std::move(v));
    }
  } else {
    p.type = Param::Type::kBool;
  }
  if (auto when = o.Find("when")) {
    if (!when->is_object()) c.Expected(o.Path("when"), "an object of parameter: [values]", *when);
    for (const auto& item : when->items()) {
      std::vector<nlohmann::json>& allowed = p.when[item.key()];
      // A single value is shorthand for a one-element list.
      OJson list = item.value().is_array() ? item.value() : OJson::array({item.value()});
      for (const OJson& v : list) allowed.push_back(nlohmann::json::parse(v.dump()));
    }
  }
  return p;
}

SearchSpace ParseSearchSpace(const Checker& c, const OJson& json) {
  if (!json.is_object()) c.Expected("search_space", "an object", json);
  SearchSpace space;
  for (const auto& item : json.items())
    space.params.push_back(ParseParam(c, item.key(), item.value()));
  if (std::string problem = space.Validate(); !problem.empty()) {
    size_t colon = problem.find(": ");
    c.Fail("search_space." + problem.substr(0, colon), problem.substr(colon + 2));
  }
  return space;
}

Limits ParseLimits(const Checker& c, const OJson* json) {
  Limits l;
  l.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (json == nullptr) return l;
  Object o(c, *json, "limits",
           {"threads", "memory_mb", "log_bytes", "max_experiments", "processes"});
  if (auto v = o.Find("threads"))
    l.threads = static_cast<int>(c.IntegerAtLeast(*v, o.Path("threads"), 1));
  if (auto v = o.Find("memory_mb"))
    l.memory_mb = static_cast<uint64_t>(c.IntegerAtLeast(*v, o.Path("memory_mb"), 0));
  // Below a few KiB a head-and-tail log shows nothing useful.
  if (auto v = o.Find("log_bytes"))
    l.log_bytes = static_cast<uint64_t>(c.IntegerAtLeast(*v, o.Path("log_bytes"), 4096));
  if (auto v = o.Find("max_experiments")) {
    l.max_experiments = c.IntegerAtLeast(*v, o.Path("max_experiments"), 0);
  }
  if (auto v = o.Find("processes")) l.processes = c.IntegerAtLeast(*v, o.Path("processes"), 0);
  return l;
}

SandboxSpec ParseSandbox(const Checker& c, const OJson* json) {
  SandboxSpec s;
  if (json == nullptr) return s;
  Object o(c, *json, "sandbox", {"enabled", "agent_network", "extra_ro"});
  if (auto v = o.Find("enabled")) s.enabled = c.Bool(*v, o.Path("enabled"));
  if (auto v = o.Find("agent_network")) s.agent_network = c.Bool(*v, o.Path("agent_network"));
  if (auto v = o.Find("extra_ro")) s.extra_ro = c.Strings(*v, o.Path("extra_ro"));
  return s;
}

BackendSpec ParseBackend(const Checker& c, const OJson* json) {
  BackendSpec b;
  if (json == nullptr) return b;
  Object o(c, *json, "backend", {"kind", "slurm"});
  if (auto v = o.Find("kind")) {
    b.kind = c.Choice(*v, o.Path("kind"), {"local", "slurm"}) == "slurm" ? BackendSpec::Kind::kSlurm
                                                                         : BackendSpec::Kind::kLocal;
  }
  if (auto v = o.Find("slurm")) {
    Object slurm(c, *v, "backend.slurm", {"partition", "extra_args", "submit"});
    if (auto p = slurm.Find("submit")) {
      b.slurm_submit = c.Choice(*p, slurm.Path("submit"), {"sbatch", "srun"}) == "srun"
                           ? BackendSpec::Submit::kSrun
                           : BackendSpec::Submit::kSbatch;
    }
    if (auto p = slurm.Find("partition")) b.slurm_partition = c.String(*p, slurm.Path("partition"));
    if (auto a = slurm.Find("extra_args")) {
      b.slurm_extra_args = c.Strings(*a, slurm.Path("extra_args"));
    }
  }
  return b;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char ch) {
                       return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                              ch == '_' || ch == '-';
                     }) &&
         name.find("..") == std::string::npos;
}

}  // namespace

std::string BackendKindName(BackendSpec::Kind kind) {
  return kind == BackendSpec::Kind::kSlurm ? "slurm" : "local";
}

BackendSpec::Kind ParseBackendKind(const std::string& name, const std::string& what) {
  if (name == "local") return BackendSpec::Kind::kLocal;
  if (name == "slurm") return BackendSpec::Kind::kSlurm;
  throw Error(what + ": expected local or slurm, got \"" + name + "\"");
}

bool IsKnownProposerKind(const std::string& kind) { return FindProposerKind(kind) != nullptr; }

bool IsSearchProposerKind(const std::string& kind) {
  const ProposerKind* k = FindProposerKind(kind);
  return k != nullptr && k->search;
}

Spec ParseSpec(std::string_view text, const std::filesystem::path& origin) {
  const std::string file = origin.string();
  Checker c(file);
  OJson root;
  try {
    root = OJson::parse(text.begin(), text.end(), DuplicateKeyCheck(c));
  } catch (const OJson::parse_error& e) {
    auto [line, column] = LineColumn(text, e.byte);
    throw Error(file + ":" + std::to_string(line) + ":" + std::to_string(column) +
                ": syntax error: " + SyntaxDetail(e.what()));
  }
  Object o(c, root, "",
           {"name", "description", "template", "mutable", "immutable", "budget", "data", "train",
            "evaluate", "metric", "acceptance", "proposer", "search_space", "limits", "sandbox",
            "parallel", "backend"});

  Spec spec;
  spec.path = std::filesystem::absolute(origin).lexically_normal();
  spec.dir = spec.path.parent_path();
  spec.text = std::string(text);

  spec.name = c.String(o.Required("name"), "name");
  if (!ValidName(spec.name)) {
    c.Fail("name", "must be letters, digits, '.', '_' or '-' (it names git refs), got \"" +
                       spec.name + "\"");
  }
  if (auto v = o.Find("description")) spec.description = c.String(*v, "description");

  std::string tmpl = c.NonEmptyString(o.Required("template"), "template");
  spec.template_dir = (spec.dir / tmpl).lexically_normal();
  std::error_code ec;
  if (!std::filesystem::is_directory(spec.template_dir, ec)) {
    c.Fail("template",
           (std::filesystem::exists(spec.template_dir, ec) ? "not a folder: "
                                                           : "folder does not exist: ") +
               spec.template_dir.string());
  }

  const OJson& globs = o.Required("mutable");
  if (!globs.is_array()) c.Expected("mutable", "an array of strings", globs);
  if (globs.empty()) c.Fail("mutable", "must list at least one glob");
  for (size_t i = 0; i < globs.size(); ++i) {
    spec.mutable_globs.push_back(c.RelativePath(globs[i], Index("mutable", i)));
  }

  if (auto v = o.Find("data")) spec.data = ParseData(c, *v);
  const bool have_data = spec.data.has_value();
  if (auto v = o.Find("immutable")) {
    spec.immutable = c.Strings(*v, "immutable");
    for (size_t i = 0; i < spec.immutable.size(); ++i) {
      if (spec.immutable[i].empty()) c.Fail(Index("immutable", i), "must not be empty");
      CheckPlaceholders(c, spec.immutable[i], Index("immutable", i), Use::kImmutable, have_data);
    }
  }

  spec.budget = ParseBudget(c, o.Required("budget"));
  spec.train = ParseTrain(c, o.Required("train"), have_data);
  if (spec.budget.kind == Budget::Kind::kTokens && spec.train.timeout_seconds <= 0) {
    c.Fail("train.timeout_seconds",
           "required with a tokens budget (the deadline cannot scale with it)");
  }
  spec.evaluate = ParseEvaluate(c, o.Required("evaluate"), have_data);
  spec.metric = ParseMetric(c, o.Required("metric"));
  if (auto v = o.Find("acceptance")) spec.acceptance = ParseAcceptance(c, *v);
  spec.proposer = ParseProposer(c, o.Find("proposer") ? *o.Find("proposer") : OJson::object());
  if (auto v = o.Find("search_space")) spec.search_space = ParseSearchSpace(c, *v);
  spec.limits = ParseLimits(c, o.Find("limits"));
  spec.sandbox = ParseSandbox(c, o.Find("sandbox"));
  if (auto v = o.Find("parallel")) spec.parallel = static_cast<int>(c.IntegerAtLeast(*v, "parallel", 1));
  spec.backend = ParseBackend(c, o.Find("backend"));

  if (!IsSearchProposerKind(spec.proposer.kind) && !spec.proposer.config.empty() &&
      !std::filesystem::is_regular_file(spec.template_dir / spec.proposer.config, ec)) {
    c.Fail("proposer.config", "\"" + spec.proposer.config + "\" is not a file in the template " +
                                  spec.template_dir.string());
  }
  if (IsSearchProposerKind(spec.proposer.kind)) {
    if (spec.proposer.config.empty()) {
      c.Fail("proposer.config", "required for proposer kind " + spec.proposer.kind);
    }
    if (!std::filesystem::is_regular_file(spec.template_dir / spec.proposer.config, ec)) {
      c.Fail("proposer.config", "\"" + spec.proposer.config + "\" is not a file in the template " +
                                    spec.template_dir.string());
    }
    if (spec.search_space.params.empty()) {
      c.Fail("search_space",
             "proposer kind " + spec.proposer.kind + " needs at least one parameter");
    }
  }
  return spec;
}

Spec LoadSpec(const std::filesystem::path& path) { return ParseSpec(ReadFile(path), path); }

Spec LoadSpecWithBudget(const std::filesystem::path& path, double amount) {
  Spec spec = LoadSpec(path);
  OJson json = OJson::parse(spec.text);
  if (spec.budget.kind == Budget::Kind::kTime) {
    if (!(amount > 0) || !std::isfinite(amount)) {
      throw Error(path.string() + ": --budget: a time budget is a number of seconds > 0");
    }
    json["budget"]["seconds"] = amount;
  } else {
    if (!(amount >= 1) || amount != std::floor(amount) || amount > 9e18) {
      throw Error(path.string() + ": --budget: a token budget is a whole number of tokens > 0");
    }
    json["budget"]["tokens"] = static_cast<int64_t>(amount);
  }
  return ParseSpec(json.dump(2), path);
}

}  // namespace ratchet

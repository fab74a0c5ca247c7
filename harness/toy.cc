// ratchet-toy: a synthetic experiment with a known optimum, for testing and
// benchmarking ratchets in milliseconds instead of minutes.
//
//   ratchet-toy train --params P.json --seed S --out R.json [--noise SD] [--work-ms MS]
//   ratchet-toy eval --result R.json [--format json|kv]
//   ratchet-toy optimum
//
// `train` reads the mutable params file, computes the objective (see
// Objective() and experiments/toy/README.md), adds Gaussian noise of sd
// --noise seeded by --seed, and writes R.json. The noise and the seed come
// from the command line (the spec), never from the params, so a mutation
// cannot win by changing them. Switches in the params imitate what a bad
// mutation does to a real trainer: crash, hang, NaN, flood, exit code, and
// a pinned seed (a trainer edited to ignore --seed).
//
// Exit codes: 0 ok, 1 runtime failure (missing result file), 2 bad usage or
// bad params, anything else: the `exit_code` switch.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;

// A failure the user must fix (usage, params, missing file): one line, exit code.
struct Failure : std::runtime_error {
  Failure(int code, const std::string& message) : std::runtime_error(message), exit_code(code) {}
  int exit_code;
};

// ---- The objective --------------------------------------------------------

struct Params {
  double x = 0, y = 0, lr = 0;
  int64_t depth = 0, width = 0;
  std::string act;
};

// The optimum, documented in experiments/toy/README.md. Objective(kOptimum) == 0.
const Params kOptimum{1.5, -0.5, 3e-3, 6, 256, "swiglu"};
// Every activation costs something except the best one.
const std::map<std::string, double> kActivationPenalty = {
    {"relu", 0.3}, {"gelu", 0.1}, {"swiglu", 0.0}, {"tanh", 0.6}};

// A sum of simple terms, each 0 at the optimum and > 0 away from it. lr and
// width act on a log scale, as they do in real training.
double Objective(const Params& p) {
  const double dlr = std::log10(p.lr) - std::log10(kOptimum.lr);
  const double dwidth =
      std::log2(static_cast<double>(p.width)) - std::log2(static_cast<double>(kOptimum.width));
  const double ddepth = static_cast<double>(p.depth - kOptimum.depth);
  return (p.x - kOptimum.x) * (p.x - kOptimum.x) + 0.5 * (p.y - kOptimum.y) * (p.y - kOptimum.y) +
         dlr * dlr + 0.1 * ddepth * ddepth + 0.25 * dwidth * dwidth + kActivationPenalty.at(p.act);
}

json ParamsToJson(const Params& p) {
  return {{"x", p.x},         {"y", p.y},         {"lr", p.lr},
          {"depth", p.depth}, {"width", p.width}, {"act", p.act}};
}

// ---- Seeded noise (portable: the same seed gives the same noise everywhere) --

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One standard normal draw (Box-Muller) from the seed.
double StandardNormal(uint64_t seed) {
  uint64_t state = seed;
  const double u1 = (static_cast<double>(SplitMix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;          // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// ---- Helpers ----------------------------------------------------------------

std::string ReadText(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Failure(1, "cannot read " + std::string(what) + " " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Shortest text that reads back as the same double; "nan"/"inf" as printf does.
std::string FormatDouble(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// --name value pairs after the subcommand.
std::map<std::string, std::string> ParseFlags(int argc, char** argv,
                                              const std::vector<std::string>& known) {
  std::map<std::string, std::string> flags;
  for (int i = 2; i < argc; i += 2) {
    std::string name = argv[i];
    bool ok = false;
    for (const std::string& k : known) ok = ok || name == "--" + k;
    if (!ok) throw Failure(2, "unknown option " + name);
    if (i + 1 >= argc) throw Failure(2, "option " + name + " needs a value");
    flags[name.substr(2)] = argv[i + 1];
  }
  return flags;
}

const std::string& Required(const std::map<std::string, std::string>& flags,
                            const std::string& name) {
  auto it = flags.find(name);
  if (it == flags.end()) throw Failure(2, "missing --" + name);
  return it->second;
}

template <typename T>
T ParseNumber(const std::string& text, const std::string& name) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw Failure(2, "--" + name + ": not a number: " + text);
  }
  return value;
}

// ---- Params file --------------------------------------------------------------

const json& Field(const json& params, const std::string& path, const char* key) {
  if (!params.contains(key)) throw Failure(2, path + ": missing \"" + key + "\"");
  return params.at(key);
}

double FloatField(const json& params, const std::string& path, const char* key) {
  const json& v = Field(params, path, key);
  if (!v.is_number()) throw Failure(2, path + ": \"" + key + "\" must be a number");
  return v.get<double>();
}

int64_t IntField(const json& params, const std::string& path, const char* key) {
  const json& v = Field(params, path, key);
  // 3.0 is accepted as 3: a float search dimension may round-trip that way.
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    return static_cast<int64_t>(v.get<double>());
  }
  throw Failure(2, path + ": \"" + key + "\" must be an integer");
}

Params ReadParams(const json& j, const std::string& path) {
  if (!j.is_object()) throw Failure(2, path + ": expected a JSON object");
  Params p;
  p.x = FloatField(j, path, "x");
  p.y = FloatField(j, path, "y");
  p.lr = FloatField(j, path, "lr");
  p.depth = IntField(j, path, "depth");
  p.width = IntField(j, path, "width");
  const json& act = Field(j, path, "act");
  if (!act.is_string() || !kActivationPenalty.count(act.get<std::string>())) {
    throw Failure(2, path + ": \"act\" must be one of relu, gelu, swiglu, tanh");
  }
  p.act = act.get<std::string>();
  if (!(p.lr > 0)) throw Failure(2, path + ": \"lr\" must be > 0");
  if (p.width <= 0) throw Failure(2, path + ": \"width\" must be > 0");
  if (p.depth <= 0) throw Failure(2, path + ": \"depth\" must be > 0");
  return p;
}

// A switch counts as on when present and truthy (true or a non-zero number).
bool Switch(const json& j, const char* key) {
  if (!j.contains(key)) return false;
  const json& v = j.at(key);
  return v.is_boolean() ? v.get<bool>() : v.is_number() && v.get<double>() != 0;
}

void WriteResultAtomic(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Failure(1, "cannot write " + temp + ": " + std::strerror(errno));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    throw Failure(1, "cannot rename " + temp + " to " + path + ": " + std::strerror(errno));
  }
}

// ---- Subcommands ----------------------------------------------------------------

int Train(int argc, char** argv) {
  auto flags = ParseFlags(argc, argv, {"params", "seed", "out", "noise", "work-ms"});
  const std::string& params_path = Required(flags, "params");
  uint64_t seed = ParseNumber<uint64_t>(Required(flags, "seed"), "seed");
  const std::string& out_path = Required(flags, "out");
  const double noise = flags.count("noise") ? ParseNumber<double>(flags["noise"], "noise") : 0.0;
  const int64_t work_ms =
      flags.count("work-ms") ? ParseNumber<int64_t>(flags["work-ms"], "work-ms") : 0;
  if (noise < 0) throw Failure(2, "--noise must be >= 0");

  json j;
  try {
    j = json::parse(ReadText(params_path, "params"));
  } catch (const json::parse_error& e) {
    throw Failure(2, params_path + ": " + e.what());
  }
  const Params p = ReadParams(j, params_path);
  if (j.contains("pinned_seed") && j["pinned_seed"].is_number_unsigned()) {
    seed = j["pinned_seed"].get<uint64_t>();  // one lucky draw, whatever --seed says
  }
  std::printf("toy: training seed=%llu noise=%s work_ms=%lld params=%s\n",
              static_cast<unsigned long long>(seed), FormatDouble(noise).c_str(),
              static_cast<long long>(work_ms), ParamsToJson(p).dump().c_str());
  std::fflush(stdout);

  if (j.contains("flood_mb") && j["flood_mb"].is_number() && j["flood_mb"].get<double>() > 0) {
    // Lines of text, as a runaway print loop would produce.
    std::string line(1023, 'f');
    line += '\n';
    const int64_t lines = static_cast<int64_t>(j["flood_mb"].get<double>() * 1024);
    for (int64_t i = 0; i < lines; ++i) std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }
  if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));

  if (Switch(j, "crash")) {
    std::fprintf(stderr, "toy: crash switch set, aborting\n");
    std::abort();
  }
  if (Switch(j, "hang")) {
    std::fprintf(stderr, "toy: hang switch set, sleeping forever\n");
    while (true) ::pause();
  }
  if (j.contains("exit_code") && j["exit_code"].is_number_integer() &&
      j["exit_code"].get<int>() != 0) {
    std::fprintf(stderr, "toy: exit_code switch set, exiting with %d\n", j["exit_code"].get<int>());
    return j["exit_code"].get<int>();
  }

  const double true_score = Switch(j, "nan") ? std::nan("") : Objective(p);
  const double score = true_score + noise * StandardNormal(seed);
  // JSON has no NaN: a NaN score is written as null and read back as NaN.
  json result = {{"score", std::isfinite(score) ? json(score) : json(nullptr)},
                 {"true_score", std::isfinite(true_score) ? json(true_score) : json(nullptr)},
                 {"seed", seed},
                 {"noise", noise},
                 {"params", ParamsToJson(p)}};
  WriteResultAtomic(out_path, result.dump(2) + "\n");
  std::printf("toy: done score=%s true_score=%s\n", FormatDouble(score).c_str(),
              FormatDouble(true_score).c_str());
  return 0;
}

double ResultNumber(const json& result, const std::string& path, const char* key) {
  if (!result.contains(key)) throw Failure(1, path + ": missing \"" + key + "\"");
  const json& v = result.at(key);
  if (v.is_null()) return std::nan("");
  if (!v.is_number()) throw Failure(1, path + ": \"" + key + "\" is not a number");
  return v.get<double>();
}

int Eval(int argc, char** argv) {
  auto flags = ParseFlags(argc, argv, {"result", "format"});
  const std::string& path = Required(flags, "result");
  const std::string format = flags.count("format") ? flags["format"] : "json";
  if (format != "json" && format != "kv")
    throw Failure(2, "--format must be json or kv, not " + format);

  json result;
  try {
    result = json::parse(ReadText(path, "result"));
  } catch (const json::parse_error& e) {
    throw Failure(1, path + ": " + e.what());
  }
  const double score = ResultNumber(result, path, "score");
  const double true_score = ResultNumber(result, path, "true_score");
  std::printf("toy eval: %s\n", path.c_str());
  if (format == "json") {
    // NaN as Python's json.dumps prints it: not valid JSON, which is the point.
    auto number = [](double v) { return std::isnan(v) ? std::string("NaN") : FormatDouble(v); };
    std::printf("{\"score\": %s, \"true_score\": %s}\n", number(score).c_str(),
                number(true_score).c_str());
  } else {
    // As popular training scripts print: other `name: value` lines around,
    // one of which ends with the metric's name.
    std::printf("seed: %s\n", result.value("seed", json(0)).dump().c_str());
    std::printf("true_score: %s\n", FormatDouble(true_score).c_str());
    std::printf("score: %s\n", FormatDouble(score).c_str());
    std::printf("eval done\n");
  }
  return 0;
}

int Optimum() {
  json out = {{"params", ParamsToJson(kOptimum)}, {"score", Objective(kOptimum)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

constexpr const char* kUsage =
    "usage: ratchet-toy train --params P.json --seed S --out R.json [--noise SD] [--work-ms MS]\n"
    "       ratchet-toy eval --result R.json [--format json|kv]\n"
    "       ratchet-toy optimum\n";

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "train") return Train(argc, argv);
    if (command == "eval") return Eval(argc, argv);
    if (command == "optimum") return Optimum();
    if (command == "--help" || command == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw Failure(2, command.empty() ? "missing subcommand" : "unknown subcommand " + command);
  } catch (const Failure& f) {
    std::fprintf(stderr, "ratchet-toy %s: %s\n", command.c_str(), f.what());
    if (f.exit_code == 2) std::fputs(kUsage, stderr);
    return f.exit_code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ratchet-toy %s: %s\n", command.c_str(), e.what());
    return 1;
  }
}

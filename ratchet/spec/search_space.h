// The search space of the search proposers: named parameters of one JSON
// config file in the workspace (spec key `search_space`, proposer.config).
// A parameter name is a dotted path into nested objects ("optim.lr" is
// config["optim"]["lr"]). A parameter may be conditional: it is active only
// when, for every key of `when`, the config's value at that key is one of the
// listed values (and that controlling parameter is itself active), e.g.
// "muon_momentum only when optimizer is muon".
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"

namespace ratchet {

struct Param {
  std::string name;  // dotted path into the config
  enum class Type { kFloat, kInt, kChoice, kBool } type = Type::kFloat;
  double min = 0, max = 0;             // kFloat, kInt: inclusive range, min < max
  bool log = false;                    // kFloat, kInt: sample on a log scale (min > 0)
  std::vector<nlohmann::json> values;  // kChoice: the allowed values (at least one)
  // Active only when config[key] is one of the values, for every key.
  std::map<std::string, std::vector<nlohmann::json>> when;
};

// "float", "int", "choice", "bool".
std::string TypeName(Param::Type type);

// Where the number `v` sits in p's range: 0 at min, 1 at max, measured on
// the log range when p.log. REQUIRES: p is kFloat or kInt.
double RangePosition(const Param& p, double v);

struct SearchSpace {
  std::vector<Param> params;  // in the spec's order

  // The parameter named `name`, or nullptr.
  const Param* Find(const std::string& name) const;

  // True if every `when` condition of `param` holds in `config` and every
  // controlling parameter is itself active. A missing controlling value fails
  // its condition. REQUIRES: the conditions are acyclic (Validate).
  bool IsActive(const Param& param, const nlohmann::json& config) const;

  // True if `value` is a legal value of `param`: a number in [min, max]
  // (an integral number for kInt), one of `values`, or a boolean.
  bool Contains(const Param& param, const nlohmann::json& value) const;

  // Parameters ordered so that each comes after every parameter its `when`
  // names; otherwise the spec's order. Proposers assign in this order so a
  // condition is judged on the new value of its controlling parameter.
  std::vector<const Param*> AssignmentOrder() const;

  // Checks the conditions: each `when` key names another parameter of the
  // space, each listed value is legal for it, and there is no cycle. Returns
  // "" when fine, otherwise the problem as "<param>: <message>" (the spec
  // parser prefixes file and key path).
  std::string Validate() const;
};

// The value at dotted `path` in `config`, or nullptr when a segment is missing
// or a non-object is in the way.
template <class Json>
const Json* GetPath(const Json& config, const std::string& path) {
  const Json* node = &config;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

// Sets the value at dotted `path`, creating missing intermediate objects.
// An existing key keeps its position (ordered_json), so a rewritten config
// file differs only on the changed lines. Throws Error when a non-object
// value is in the way.
template <class Json>
void SetPath(Json& config, const std::string& path, const Json& value) {
  Json* node = &config;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (node->is_null()) *node = Json::object();
    if (!node->is_object()) {
      std::string where = start ? path.substr(0, start - 1) : std::string("the config root");
      throw Error("config: cannot set " + path + ": " + where + " is not an object");
    }
    if (dot == std::string::npos) {
      (*node)[key] = value;
      return;
    }
    node = &(*node)[key];
    start = dot + 1;
  }
}

}  // namespace ratchet

#include "ratchet/spec/search_space.h"

#include <cmath>
#include <functional>
#include <set>

namespace ratchet {

std::string TypeName(Param::Type type) {
  switch (type) {
    case Param::Type::kFloat:
      return "float";
    case Param::Type::kInt:
      return "int";
    case Param::Type::kChoice:
      return "choice";
    case Param::Type::kBool:
      return "bool";
  }
  return "?";
}

double RangePosition(const Param& p, double v) {
  if (p.log) return (std::log(v) - std::log(p.min)) / (std::log(p.max) - std::log(p.min));
  return (v - p.min) / (p.max - p.min);
}

const Param* SearchSpace::Find(const std::string& name) const {
  for (const Param& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

bool SearchSpace::IsActive(const Param& param, const nlohmann::json& config) const {
  for (const auto& [key, allowed] : param.when) {
    const Param* controller = Find(key);
    if (controller != nullptr && !IsActive(*controller, config)) return false;
    const nlohmann::json* value = GetPath(config, key);
    if (value == nullptr) return false;
    bool match = false;
    for (const nlohmann::json& v : allowed) match = match || *value == v;
    if (!match) return false;
  }
  return true;
}

bool SearchSpace::Contains(const Param& param, const nlohmann::json& value) const {
  switch (param.type) {
    case Param::Type::kFloat:
    case Param::Type::kInt: {
      if (!value.is_number()) return false;
      double v = value.get<double>();
      if (!std::isfinite(v) || v < param.min || v > param.max) return false;
      return param.type == Param::Type::kFloat || std::floor(v) == v;
    }
    case Param::Type::kChoice:
      for (const nlohmann::json& v : param.values) {
        if (v == value) return true;
      }
      return false;
    case Param::Type::kBool:
      return value.is_boolean();
  }
  return false;
}

std::vector<const Param*> SearchSpace::AssignmentOrder() const {
  // Depth-first over `when` keys; Validate() guarantees no cycle, the
  // `visiting` set only keeps a broken space from recursing forever.
  std::vector<const Param*> order;
  std::set<const Param*> done, visiting;
  std::function<void(const Param*)> visit = [&](const Param* p) {
    if (done.count(p) || visiting.count(p)) return;
    visiting.insert(p);
    for (const auto& entry : p->when) {
      if (const Param* controller = Find(entry.first)) visit(controller);
    }
    visiting.erase(p);
    done.insert(p);
    order.push_back(p);
  };
  for (const Param& p : params) visit(&p);
  return order;
}

std::string SearchSpace::Validate() const {
  for (const Param& p : params) {
    for (const auto& [key, allowed] : p.when) {
      const Param* controller = Find(key);
      if (controller == nullptr) {
        return p.name + ".when." + key + ": not a parameter of the search space";
      }
      if (controller == &p)
        return p.name + ".when." + key + ": a parameter cannot depend on itself";
      if (allowed.empty()) return p.name + ".when." + key + ": lists no value";
      for (const nlohmann::json& v : allowed) {
        if (!Contains(*controller, v)) {
          return p.name + ".when." + key + ": " + v.dump() + " is not a value of " + key;
        }
      }
    }
  }
  // Cycle check: follow `when` edges depth-first with colours.
  enum Colour { kWhite, kGrey, kBlack };
  std::map<const Param*, Colour> colour;
  std::string cycle;
  std::function<bool(const Param*)> visit = [&](const Param* p) {
    colour[p] = kGrey;
    for (const auto& entry : p->when) {
      const Param* c = Find(entry.first);
      if (colour[c] == kGrey) {
        cycle = p->name + ".when: conditions form a cycle through " + c->name;
        return false;
      }
      if (colour[c] == kWhite && !visit(c)) return false;
    }
    colour[p] = kBlack;
    return true;
  };
  for (const Param& p : params) {
    if (colour[&p] == kWhite && !visit(&p)) return cycle;
  }
  return "";
}

}  // namespace ratchet

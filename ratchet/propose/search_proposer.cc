#include "ratchet/propose/search_proposer.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "base/fs.h"
#include "ratchet/propose/search_moves.h"

namespace ratchet {

double RoundSignificant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return value;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, value);
  return std::strtod(buf, nullptr);
}

nlohmann::json SampleValue(const Param& p, std::mt19937_64& rng) {
  switch (p.type) {
    case Param::Type::kFloat: {
      double v;
      if (p.log) {
        v = std::exp(std::uniform_real_distribution<double>(std::log(p.min), std::log(p.max))(rng));
      } else {
        v = std::uniform_real_distribution<double>(p.min, p.max)(rng);
      }
      return std::clamp(RoundSignificant(v), p.min, p.max);
    }
    case Param::Type::kInt: {
      auto lo = static_cast<int64_t>(p.min), hi = static_cast<int64_t>(p.max);
      if (!p.log) return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
      // Log-uniform over [lo, hi + 1) then floored: each integer gets the
      // log-width of its own unit interval.
      double u = std::uniform_real_distribution<double>(std::log(p.min), std::log(p.max + 1))(rng);
      return std::clamp(static_cast<int64_t>(std::floor(std::exp(u))), lo, hi);
    }
    case Param::Type::kChoice:
      return p.values[std::uniform_int_distribution<size_t>(0, p.values.size() - 1)(rng)];
    case Param::Type::kBool:
      return std::bernoulli_distribution(0.5)(rng);
  }
  return nullptr;
}

nlohmann::json RandomConfig(const SearchSpace& space, const nlohmann::json& current,
                            std::mt19937_64& rng) {
  nlohmann::json next = current;
  for (const Param* p : space.AssignmentOrder()) {
    nlohmann::json value = SampleValue(*p, rng);
    if (space.IsActive(*p, next)) SetPath(next, p->name, value);
  }
  return next;
}

namespace {

std::string Show(const nlohmann::json* v) {
  if (v == nullptr) return "(unset)";
  return v->is_string() ? v->get<std::string>() : v->dump();
}

}  // namespace

std::string DescribeChanges(const SearchSpace& space, const nlohmann::json& before,
                            const nlohmann::json& after) {
  std::string out;
  for (const Param& p : space.params) {
    const nlohmann::json* a = GetPath(before, p.name);
    const nlohmann::json* b = GetPath(after, p.name);
    if (a == b || (a && b && *a == *b)) continue;
    out += (out.empty() ? "" : ", ") + p.name + " " + Show(a) + " -> " + Show(b);
  }
  return out;
}

std::optional<nlohmann::ordered_json> MergeConfigs(const SearchSpace& space,
                                                   const nlohmann::json& base,
                                                   const nlohmann::ordered_json& ours,
                                                   const nlohmann::json& theirs) {
  nlohmann::ordered_json merged = ours;
  const nlohmann::json mine = nlohmann::json::parse(ours.dump());
  for (const Param& p : space.params) {
    const nlohmann::json* from = GetPath(base, p.name);
    const nlohmann::json* to = GetPath(theirs, p.name);
    auto same = [](const nlohmann::json* a, const nlohmann::json* b) {
      return a == b || (a && b && *a == *b);
    };
    if (same(from, to) || to == nullptr) continue;  // not changed by theirs
    const nlohmann::json* now = GetPath(mine, p.name);
    if (!same(now, from) && !same(now, to)) return std::nullopt;  // changed both ways
    SetPath(merged, p.name, nlohmann::ordered_json::parse(to->dump()));
  }
  return merged;
}

SearchProposer::SearchProposer(const Spec& spec)
    : kind_(spec.proposer.kind), config_(spec.proposer.config), space_(spec.search_space) {}

Proposal SearchProposer::Propose(const ProposalContext& ctx) {
  const std::filesystem::path file = ctx.worktree / config_;
  nlohmann::ordered_json ordered;
  try {
    ordered = nlohmann::ordered_json::parse(ReadFile(file));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(file.string() + ": not valid JSON (proposer.config): " + e.what());
  }
  if (!ordered.is_object())
    throw Error(file.string() + ": expected a JSON object (proposer.config)");
  const nlohmann::json current = nlohmann::json::parse(ordered.dump());

  std::mt19937_64 rng(ctx.seed);
  nlohmann::json next;
  std::string description;
  // A config another worker is measuring now would only be a duplicate.
  auto pending = [&](const nlohmann::json& config) {
    for (const HistoryEntry& e : ctx.pending) {
      if (e.params.is_object() && SameSearchPoint(space_, e.params, config)) return true;
    }
    return false;
  };
  for (int attempt = 0; attempt < kMaxTries && description.empty(); ++attempt) {
    next = Mutate(ctx, current, rng);
    description = DescribeChanges(space_, current, next);
    if (pending(next)) description.clear();
  }
  if (description.empty()) {
    throw ProposalError("proposer " + kind_ + ": no change found in " + std::to_string(kMaxTries) +
                        " tries (is every parameter fixed?)");
  }

  // Write back only the changed parameters into the ordered document, so
  // keys keep their places and untouched values their exact text.
  nlohmann::json params = current;
  for (const Param* p : space_.AssignmentOrder()) {
    const nlohmann::json* a = GetPath(current, p->name);
    const nlohmann::json* b = GetPath(next, p->name);
    if (b == nullptr || (a && *a == *b)) continue;
    SetPath(ordered, p->name, nlohmann::ordered_json::parse(b->dump()));
    SetPath(params, p->name, *b);
  }
  WriteFileFresh(file, ordered.dump(2) + "\n");
  Proposal proposal;
  proposal.description = description;
  proposal.params = params;
  if (std::string note = Note(ctx); !note.empty()) proposal.notes.push_back(note);
  return proposal;
}

}  // namespace ratchet

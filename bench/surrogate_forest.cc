#include "bench/surrogate_forest.h"

#include <fstream>

#include "base/error.h"
#include "base/fs.h"
#include "ratchet/spec/spec.h"

namespace ratchet::bench {

SurrogateForest SurrogateForest::Load(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string header;
  if (!in || !std::getline(in, header)) throw Error(file.string() + ": cannot read");
  SurrogateForest f;
  try {
    const nlohmann::json h = nlohmann::json::parse(header);
    const std::filesystem::path spec_file = h.at("spec_file").get<std::string>();
    f.keys_ = h.at("keys").get<std::vector<std::string>>();
    f.baseline_ = h.at("baseline");
    // The spec's search space cut to the keys, in their order.
    nlohmann::json spec = nlohmann::json::parse(ReadFile(spec_file));
    nlohmann::json cut = nlohmann::json::object();
    for (const std::string& k : f.keys_) cut[k] = spec.at("search_space").at(k);
    spec["search_space"] = cut;
    f.space_ = ParseSpec(spec.dump(), spec_file).search_space;
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": bad header: " + e.what());
  }
  size_t n_trees = 0;
  in >> n_trees;
  f.trees_.resize(n_trees);
  for (auto& tree : f.trees_) {
    size_t n_nodes = 0;
    in >> n_nodes;
    tree.resize(n_nodes);
    for (Node& node : tree) {
      in >> node.feature >> node.threshold >> node.left >> node.right >> node.value;
    }
  }
  if (!in || n_trees == 0) throw Error(file.string() + ": truncated tree list");
  return f;
}

std::vector<double> SurrogateForest::Features(const nlohmann::json& config) const {
  std::vector<double> x;
  for (const std::string& key : keys_) {
    const Param& p = *space_.Find(key);
    const nlohmann::json* v = GetPath(config, key);
    if (v == nullptr || !space_.IsActive(p, config)) {
      x.push_back(-1);
    } else if (p.type == Param::Type::kBool) {
      x.push_back(v->get<bool>() ? 1 : 0);
    } else if (p.type == Param::Type::kChoice) {
      size_t index = 0;
      while (index < p.values.size() && p.values[index] != *v) ++index;
      x.push_back(static_cast<double>(index));
    } else {
      x.push_back(RangePosition(p, v->get<double>()));
    }
  }
  return x;
}

double SurrogateForest::Predict(const nlohmann::json& config) const {
  const std::vector<double> x = Features(config);
  double sum = 0;
  for (const auto& tree : trees_) {
    int i = 0;
    while (tree[i].left >= 0)
      i = x[tree[i].feature] <= tree[i].threshold ? tree[i].left : tree[i].right;
    sum += tree[i].value;
  }
  return sum / static_cast<double>(trees_.size());
}

}  // namespace ratchet::bench

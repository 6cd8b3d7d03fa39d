#include "passes/cse_pass.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

bool IsCommutative(const std::string& op) {
  static const auto* ops = new absl::flat_hash_set<std::string>{
      "Add",   "AddV2",    "Mul",        "Maximum",   "Minimum",
      "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "SquaredDifference"};
  return ops->contains(op);
}

bool Mergeable(const Node& n) {
  if (n.is_stateful() || n.op().rfind("Placeholder", 0) == 0 || n.op().rfind("_", 0) == 0) {
    return false;
  }
  for (int i = 0; i < n.num_inputs(); ++i) {
    if (n.input_is_ref(i) || n.input(i).node->output_is_ref(n.input(i).index)) return false;
  }
  for (int i = 0; i < n.num_outputs(); ++i) {
    if (n.output_is_ref(i)) return false;
  }
  return true;
}

// A string equal for exactly the nodes CSE may merge.
std::string Key(const Node& n) {
  std::vector<std::string> inputs;
  for (int i = 0; i < n.num_inputs(); ++i) {
    inputs.push_back(absl::StrCat(n.input(i).node->id(), ":", n.input(i).index));
  }
  if (IsCommutative(n.op())) std::sort(inputs.begin(), inputs.end());
  std::vector<int> controls;
  for (const Edge* e : n.control_in_edges()) controls.push_back(e->src->id());
  std::sort(controls.begin(), controls.end());
  std::string key = absl::StrCat(n.op(), "|", n.requested_device(), "|");
  for (const std::string& in : inputs) absl::StrAppend(&key, in, ",");
  absl::StrAppend(&key, "|");
  for (int c : controls) absl::StrAppend(&key, c, ",");
  absl::StrAppend(&key, "|");
  // AttrMap is ordered, and one node's attrs serialize deterministically.
  for (const auto& [name, value] : n.attrs()) {
    absl::StrAppend(&key, name, "=", value.SerializeAsString().size(), ":",
                    value.SerializeAsString(), ";");
  }
  return key;
}

}  // namespace

absl::StatusOr<PassStats> CsePass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes(*graph);
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
  absl::flat_hash_map<std::string, Node*> canonical;
  // Removed nodes are never visited again: a duplicate is merged when visited, and the kept
  // node comes earlier in the order.
  for (Node* n : order) {
    if (!Mergeable(*n) || fed.contains(n->name())) continue;
    auto [it, inserted] = canonical.try_emplace(Key(*n), n);
    if (inserted) continue;
    Node* keep = it->second;
    if (preserved.contains(n->name())) {
      stats.notes.push_back(
          absl::StrCat(n->name(), ": duplicate of ", keep->name(), " kept (fetched or targeted)"));
      continue;
    }
    for (int i = 0; i < n->num_outputs(); ++i) {
      RETURN_IF_ERROR(
          pass_util::ForwardOutputs(graph, n, i, {keep, i}, /*move_control_inputs=*/false));
    }
    // ForwardOutputs moved the control out-edges at output 0; nothing is left.
    graph->RemoveNode(n);
    ++stats.nodes_removed;
  }
  return stats;
}

}  // namespace quiver

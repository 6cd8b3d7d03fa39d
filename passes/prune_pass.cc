#include "passes/prune_pass.h"

namespace quiver {

absl::StatusOr<PassStats> PrunePass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes();
  std::vector<bool> live(graph->num_node_ids(), false);
  std::vector<Node*> stack;
  for (Node* n : graph->nodes()) {
    const bool root = preserved.contains(n->name()) || n->is_stateful() ||
                      (!ctx.has_fetches() && n->out_edges().empty());
    if (root) {
      live[n->id()] = true;
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    auto visit = [&](Node* src) {
      if (!live[src->id()]) {
        live[src->id()] = true;
        stack.push_back(src);
      }
    };
    for (int i = 0; i < n->num_inputs(); ++i) {
      if (const Edge* e = n->input_edge(i)) visit(e->src);
    }
    for (const Edge* e : n->control_in_edges()) visit(e->src);
  }
  for (Node* n : graph->nodes()) {
    if (!live[n->id()]) {
      graph->RemoveNode(n);
      ++stats.nodes_removed;
    }
  }
  return stats;
}

}  // namespace quiver

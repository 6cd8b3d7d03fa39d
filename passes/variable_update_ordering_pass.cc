#include "passes/variable_update_ordering_pass.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace quiver {
namespace {

bool IsVariable(const Node& n) { return n.op() == "VariableV2" || n.op() == "Variable"; }

// Ops whose output 0 shares input 0's buffer, so their consumers hold the variable's bytes too.
bool AliasesInput(const Node& n) {
  static const absl::flat_hash_set<std::string> kAliasing = {
      "Identity", "Reshape",      "Squeeze",        "ExpandDims",
      "Snapshot", "StopGradient", "PreventGradient"};
  return kAliasing.contains(n.op());
}

// Marks (by node id) the nodes reachable from `starts` along data and control edges: their
// consumers when `forward`, their producers otherwise. A node for which `stop` is true is
// marked but not walked past. The starts themselves are marked only when reached again.
std::vector<bool> Walk(const Graph& graph, std::vector<const Node*> starts, bool forward,
                       const std::function<bool(const Node*)>& stop = nullptr) {
  std::vector<bool> seen(graph.num_node_ids(), false);
  std::vector<const Node*> stack = std::move(starts);
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    auto visit = [&](const Node* next) {
      if (next == nullptr || seen[next->id()]) return;
      seen[next->id()] = true;
      if (!stop || !stop(next)) stack.push_back(next);
    };
    if (forward) {
      for (const Edge* e : n->out_edges()) visit(e->dst);
    } else {
      for (int i = 0; i < n->num_inputs(); ++i) {
        if (n->input_edge(i) != nullptr) visit(n->input_edge(i)->src);
      }
      for (const Edge* e : n->control_in_edges()) visit(e->src);
    }
  }
  return seen;
}

// The nodes holding `var`'s bytes during a step (readers) and the nodes updating it.
void CollectUses(Node* var, std::vector<Node*>* readers, std::vector<Node*>* updates) {
  absl::flat_hash_set<Node*> seen;
  std::vector<Node*> aliases;  // derefs whose consumers hold the bytes too
  for (const Edge* e : var->out_edges()) {
    if (e->IsControl()) continue;
    Node* dst = e->dst;
    if (dst->input_is_ref(e->dst_input)) {
      if (dst->op() != "IsVariableInitialized" && seen.insert(dst).second) updates->push_back(dst);
    } else if (seen.insert(dst).second) {
      readers->push_back(dst);
      if (AliasesInput(*dst)) aliases.push_back(dst);
    }
  }
  while (!aliases.empty()) {
    Node* a = aliases.back();
    aliases.pop_back();
    for (const Edge* e : a->out_edges()) {
      if (e->IsControl() || e->src_output != 0 || !seen.insert(e->dst).second) continue;
      readers->push_back(e->dst);
      if (AliasesInput(*e->dst)) aliases.push_back(e->dst);
    }
  }
}

// The nodes a step with these fetches and targets runs: everything they need, stopping at fed
// nodes (their inputs do not run). Nodes outside it (another step's initializers) must not
// gain edges: an initializer ordered after a read would make `init` need the read's feeds.
std::vector<bool> StepNodes(const Graph& graph, const PassContext& ctx) {
  const absl::flat_hash_set<std::string> fed = ctx.FedNodes();
  std::vector<const Node*> roots;
  for (const std::string& name : ctx.PreservedNodes()) {
    const Node* n = graph.FindNode(name);
    if (n != nullptr && !fed.contains(name)) roots.push_back(n);  // fed: its producers don't run
  }
  std::vector<bool> in_step =
      Walk(graph, roots, /*forward=*/false, [&](const Node* n) { return fed.contains(n->name()); });
  for (const Node* n : roots) in_step[n->id()] = true;
  return in_step;
}

}  // namespace

absl::StatusOr<PassStats> VariableUpdateOrderingPass::Run(Graph* graph, const PassContext& ctx) {
  const absl::Time start = absl::Now();
  PassStats stats;
  if (!ctx.has_fetches()) {
    stats.notes.push_back("no fetches or targets: which nodes share a step is unknown");
    return stats;
  }
  const std::vector<bool> in_step = StepNodes(*graph, ctx);
  std::vector<Node*> variables;
  for (Node* n : graph->nodes()) {
    if (IsVariable(*n) && in_step[n->id()]) variables.push_back(n);
  }
  // A reader behind a Switch may be on the branch not taken: an update waiting on it would
  // be skipped too (runtime/executor.h). Such readers are left unordered.
  std::vector<Node*> switches;
  for (Node* n : graph->nodes()) {
    if (pass_util::IsSwitch(*n)) switches.push_back(n);
  }
  const std::vector<bool> may_be_dead =
      switches.empty() ? std::vector<bool>(graph->num_node_ids(), false)
                       : Walk(*graph, std::vector<const Node*>(switches.begin(), switches.end()),
                              /*forward=*/true);
  for (Node* var : variables) {
    std::vector<Node*> readers, updates;
    CollectUses(var, &readers, &updates);
    auto outside = [&](const Node* n) { return !in_step[n->id()]; };
    readers.erase(std::remove_if(readers.begin(), readers.end(), outside), readers.end());
    updates.erase(std::remove_if(updates.begin(), updates.end(), outside), updates.end());
    if (readers.empty() || updates.empty()) continue;
    for (Node* update : updates) {
      const std::vector<bool> before = Walk(*graph, {update}, /*forward=*/false);
      const std::vector<bool> after = Walk(*graph, {update}, /*forward=*/true);
      std::vector<std::string> ordered;
      for (Node* reader : readers) {
        if (reader == update || before[reader->id()] || after[reader->id()] ||
            may_be_dead[reader->id()]) {
          continue;
        }
        graph->AddControlEdge(reader, update);
        ordered.push_back(reader->name());
      }
      if (ordered.empty()) continue;
      ++stats.nodes_changed;
      stats.changes.push_back(absl::StrCat(update->name(), " runs after ", ordered.size(),
                                           " read(s) of ", var->name(), " (first: ", ordered[0],
                                           ")"));
    }
  }
  stats.time = absl::Now() - start;
  return stats;
}

}  // namespace quiver

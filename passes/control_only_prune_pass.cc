#include "passes/control_only_prune_pass.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Ops whose point is to fail (or print) when run: never dropped, even when nothing reads them.
bool RunForItsEffect(const std::string& op) {
  static constexpr std::array<std::string_view, 5> kOps = {"Placeholder", "Assert", "CheckNumerics",
                                                           "Print", "PrintV2"};
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

bool Removable(const Node& n, const absl::flat_hash_set<std::string>& preserved) {
  if (preserved.contains(n.name()) || n.is_stateful() || n.num_outputs() == 0) return false;
  if (n.op().empty() || n.op()[0] == '_' || RunForItsEffect(n.op())) return false;
  if (n.out_edges().empty()) return false;  // an output of its own: prune's business
  // Waiting on a Merge's inputs instead of it, or on a Switch instead of its output, would
  // change which branch's waiters run (pass_util::IsSwitch).
  if (pass_util::IsMerge(n) || pass_util::ReadsSwitchOutput(n)) return false;
  return std::all_of(n.out_edges().begin(), n.out_edges().end(),
                     [](const Edge* e) { return e->IsControl(); });
}

bool HasDataInputFrom(const Node& dst, const Node* src) {
  for (int i = 0; i < dst.num_inputs(); ++i) {
    const Edge* e = dst.input_edge(i);
    if (e != nullptr && e->src == src) return true;
  }
  return false;
}

// Nodes a caller asked to run: the control inputs of fetched, fed and targeted nodes, and
// through NoOps (tf.group, nested) theirs. `sess.run(tf.group(*ops))`, TF1's way to time ops
// without fetching them, must still run them.
std::vector<bool> AskedToRun(const Graph& graph,
                             const absl::flat_hash_set<std::string>& preserved) {
  std::vector<bool> asked(graph.num_node_ids(), false);
  std::vector<const Node*> stack;
  for (const std::string& name : preserved) {
    if (const Node* n = graph.FindNode(name)) stack.push_back(n);
  }
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    for (const Edge* e : n->control_in_edges()) {
      if (asked[e->src->id()]) continue;
      asked[e->src->id()] = true;
      if (e->src->op() == "NoOp") stack.push_back(e->src);
    }
  }
  return asked;
}

}  // namespace

absl::StatusOr<PassStats> ControlOnlyPrunePass::Run(Graph* graph, const PassContext& ctx) {
  PassStats stats;
  const absl::flat_hash_set<std::string> preserved = ctx.PreservedNodes();
  const std::vector<bool> asked = AskedToRun(*graph, preserved);
  ASSIGN_OR_RETURN(std::vector<Node*> order, graph->TopologicalOrder());
  // Consumers first: removing X turns its inputs' edges to X into control edges to X's
  // consumers, so an input read only by X is judged after X is gone.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* x = *it;
    if (asked[x->id()] || !Removable(*x, preserved)) continue;
    std::vector<Node*> sources;
    for (int i = 0; i < x->num_inputs(); ++i) {
      if (const Edge* e = x->input_edge(i)) sources.push_back(e->src);
    }
    for (const Edge* e : x->control_in_edges()) sources.push_back(e->src);
    std::vector<Node*> waiters;
    for (const Edge* e : x->out_edges()) waiters.push_back(e->dst);
    for (Node* y : waiters) {
      for (Node* src : sources) {
        if (!HasDataInputFrom(*y, src)) graph->AddControlEdge(src, y);  // dedupes itself
      }
    }
    stats.changes.push_back(
        absl::StrCat(x->name(), " (", x->op(), "): read by nobody, only waited for"));
    graph->RemoveNode(x);
    ++stats.nodes_removed;
  }
  return stats;
}

}  // namespace quiver

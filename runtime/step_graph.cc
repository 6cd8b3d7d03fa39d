#include "runtime/step_graph.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "graph/status_macros.h"
#include "passes/channels_first_lowering.h"
#include "passes/pass_manager.h"

namespace quiver {
namespace {

absl::StatusOr<std::unique_ptr<Graph>> SpecialisedCopy(const Graph& source,
                                                       const ExecutorSpec& spec,
                                                       const StepGraphOptions& options) {
  auto graph = std::make_unique<Graph>();
  RETURN_IF_ERROR(graph->CopyFrom(source));
  for (size_t i = 0; i < spec.feeds.size() && i < options.fed_shapes.size(); ++i) {
    if (!options.fed_shapes[i]) continue;
    Node* n = graph->FindNode(spec.feeds[i].node);
    // Not PlaceholderWithDefault: its default must stay compatible with its declared shape.
    if (n == nullptr || spec.feeds[i].index != 0 || n->op() != "Placeholder") continue;
    n->mutable_attrs()["shape"] = MakeAttr(*options.fed_shapes[i]);
  }
  RETURN_IF_ERROR(graph->InferShapes());
  // Mandatory at every optimizer level: the kernels run convolutions and pools in NHWC only.
  PassContext lowering_ctx;
  for (const TensorId& t : spec.feeds) lowering_ctx.feeds.push_back(t.ToString());
  for (const TensorId& t : spec.fetches) lowering_ctx.fetches.push_back(t.ToString());
  lowering_ctx.targets = spec.targets;
  RETURN_IF_ERROR(LowerChannelsFirst(graph.get(), lowering_ctx).status());
  return graph;
}

// Removes the nodes that neither a fetch nor a target depends on; fed tensors cut the walk
// (their producers' values are not used).
void KeepOnlyStepNodes(Graph* graph, const ExecutorSpec& spec) {
  absl::flat_hash_set<std::string> fed;
  for (const TensorId& t : spec.feeds) fed.insert(t.node);
  absl::flat_hash_set<const Node*> keep;
  std::vector<const Node*> stack;
  for (const TensorId& t : spec.fetches) stack.push_back(graph->FindNode(t.node));
  for (const std::string& t : spec.targets) stack.push_back(graph->FindNode(t));
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n == nullptr || !keep.insert(n).second || fed.contains(n->name())) continue;
    for (int i = 0; i < n->num_inputs(); ++i) stack.push_back(n->input(i).node);
    for (const Edge* e : n->control_in_edges()) stack.push_back(e->src);
  }
  const std::vector<Node*> nodes = graph->nodes();  // a snapshot: removing while walking
  for (Node* n : nodes) {
    if (!keep.contains(n)) graph->RemoveNode(n);
  }
}

absl::Status Optimize(const ExecutorSpec& spec, const StepGraphOptions& options, StepGraph* step,
                      const Graph& source) {
  StepGraph& out = *step;
  PassManagerOptions pm;
  pm.level = options.optimizer.level;
  pm.disabled.insert(options.optimizer.disabled_passes.begin(),
                     options.optimizer.disabled_passes.end());
  PassContext ctx;
  for (const TensorId& t : spec.feeds) ctx.feeds.push_back(t.ToString());
  for (const TensorId& t : spec.fetches) ctx.fetches.push_back(t.ToString());
  ctx.targets = spec.targets;
  // Fusion rewrites into device-specific ops, so it must know where nodes will land: a model
  // under /gpu:0 with soft placement on a machine without one runs (and fuses) on the CPU.
  ctx.device_types = options.device_types;
  ctx.allow_soft_placement = options.allow_soft_placement;
  auto report = PassManager::Default(std::move(pm)).Run(out.graph.get(), ctx);
  if (report.ok()) return absl::OkStatus();
  // A misspelt pass name is the caller's error; a pass that fails on this graph is not: like
  // TF's meta-optimizer, run the graph unoptimized and say so.
  if (report.status().code() == absl::StatusCode::kInvalidArgument &&
      absl::StrContains(report.status().message(), "unknown pass")) {
    return report.status();
  }
  out.optimizer_error = report.status().ToString();
  ASSIGN_OR_RETURN(out.graph, SpecialisedCopy(source, spec, options));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StepGraph> BuildStepGraph(const Graph& source, const ExecutorSpec& spec,
                                         const StepGraphOptions& options) {
  StepGraph out;
  ASSIGN_OR_RETURN(out.graph, SpecialisedCopy(source, spec, options));
  if (options.optimizer.level > 0) RETURN_IF_ERROR(Optimize(spec, options, &out, source));
  if (options.only_step_nodes) KeepOnlyStepNodes(out.graph.get(), spec);
  return out;
}

}  // namespace quiver

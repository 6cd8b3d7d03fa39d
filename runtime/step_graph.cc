#include "runtime/step_graph.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "graph/status_macros.h"
#include "passes/channels_first_lowering.h"
#include "passes/pass_manager.h"

namespace quiver {
namespace {

// Nodes a kernel may look through to find a Const input it can pre-process once (the CPU
// MatMul packs a constant B at construction). A fed one is not constant: its value changes per
// Run, so it becomes a Placeholder.
bool KernelsMayTreatAsConstant(const Node& n) {
  return n.op() == "Const" || n.op() == "Identity" || n.op() == "Snapshot";
}

// Replaces `n` by a Placeholder of the same name, dtype and device, declared at `shape`, wired
// to the same consumers. Its own inputs are dropped: a fed tensor's producers do not run.
absl::Status ReplaceWithPlaceholder(Graph* graph, Node* n, const TensorShape& shape) {
  struct Consumer {
    Node* node;
    int input;  // kControlSlot for a control edge
  };
  std::vector<Consumer> consumers;
  for (const Edge* e : n->out_edges()) consumers.push_back({e->dst, e->dst_input});
  NodeSpec spec;
  spec.name = n->name();
  spec.op = "Placeholder";
  spec.device = n->requested_device();
  spec.attrs["dtype"] = MakeAttr(n->output_type(0));
  spec.attrs["shape"] = MakeAttr(shape);
  const std::string assigned = n->assigned_device();
  graph->RemoveNode(n);
  ASSIGN_OR_RETURN(Node * placeholder, graph->AddNode(std::move(spec)));
  placeholder->set_assigned_device(assigned);
  for (const Consumer& c : consumers) {
    if (c.input == kControlSlot) {
      graph->AddControlEdge(placeholder, c.node);
    } else {
      RETURN_IF_ERROR(graph->UpdateInput(c.node, c.input, {placeholder, 0}));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Graph>> SpecialisedCopy(const Graph& source,
                                                       const ExecutorSpec& spec,
                                                       const StepGraphOptions& options) {
  auto graph = std::make_unique<Graph>();
  RETURN_IF_ERROR(graph->CopyFrom(source));
  for (size_t i = 0; i < spec.feeds.size(); ++i) {
    const bool shape_known = i < options.fed_shapes.size() && options.fed_shapes[i];
    Node* n = graph->FindNode(spec.feeds[i].node);
    if (n != nullptr && spec.feeds[i].index == 0 && n->num_outputs() == 1 && !n->output_is_ref(0) &&
        KernelsMayTreatAsConstant(*n)) {
      RETURN_IF_ERROR(ReplaceWithPlaceholder(
          graph.get(), n, shape_known ? *options.fed_shapes[i] : TensorShape::UnknownRank()));
      continue;
    }
    if (!shape_known) continue;
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

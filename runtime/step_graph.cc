#include "runtime/step_graph.h"

#include "absl/strings/match.h"
#include "graph/status_macros.h"
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
  return graph;
}

}  // namespace

absl::StatusOr<StepGraph> BuildStepGraph(const Graph& source, const ExecutorSpec& spec,
                                         const StepGraphOptions& options) {
  StepGraph out;
  ASSIGN_OR_RETURN(out.graph, SpecialisedCopy(source, spec, options));
  if (options.optimizer.level <= 0) return out;
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
  if (report.ok()) return out;
  // A misspelt pass name is the caller's error; a pass that fails on this graph is not: like
  // TF's meta-optimizer, run the graph unoptimized and say so.
  if (report.status().code() == absl::StatusCode::kInvalidArgument &&
      absl::StrContains(report.status().message(), "unknown pass")) {
    return report.status();
  }
  out.optimizer_error = report.status().ToString();
  ASSIGN_OR_RETURN(out.graph, SpecialisedCopy(source, spec, options));
  return out;
}

}  // namespace quiver

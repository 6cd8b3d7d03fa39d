// The graph a Session runs for one Run signature, before placement: a copy of the session's
// graph with each fed Placeholder declared at the shape it is fed (shape specialisation, when
// the shape is given), shapes inferred, and the optimization pipeline run for exactly these
// feeds, fetches and targets. Session::Run compiles through it, and `quiver place --fetch`
// reports on it, so the placement report of a step predicts what the step executes.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/tensor_shape.h"
#include "runtime/partition.h"
#include "runtime/session.h"

namespace quiver {

struct StepGraphOptions {
  SessionOptions::Optimizer optimizer;
  // One per spec.feeds entry (or empty): the fed value's shape, or nullopt to keep the
  // Placeholder's declared shape.
  std::vector<std::optional<TensorShape>> fed_shapes;
  // The device types the session has and whether placement may fall back (see PassContext).
  std::set<std::string> device_types;
  bool allow_soft_placement = true;
  // Also drop every node the step does not run (the optimizer keeps all stateful nodes, e.g.
  // the initializer's Assigns; the executor skips them): for reports on the step alone.
  bool only_step_nodes = false;
};

struct StepGraph {
  std::unique_ptr<Graph> graph;
  // The optimizer failed on this graph (not the caller's fault): `graph` is the unoptimized
  // copy and this says why, for the caller to report.
  std::string optimizer_error;
};

// Errors: a misspelt pass name (InvalidArgument), or a graph whose shapes cannot be inferred
// with the fed shapes.
absl::StatusOr<StepGraph> BuildStepGraph(const Graph& source, const ExecutorSpec& spec,
                                         const StepGraphOptions& options);

}  // namespace quiver

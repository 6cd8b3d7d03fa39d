// Memory planning (analysis only; the graph is not changed): liveness over the executor's
// topological order with the inferred static shapes, predicting a step's peak bytes
//   - with no reuse: every tensor the step produces is held to the end of the step;
//   - with liveness: a tensor is released after its last consumer ran (fetched tensors live
//     to the end; a tensor nobody reads dies right after its producer);
//   - with liveness and in-place forwarding: an element-wise op (unary cwise ops, binary cwise
//     ops on the input that has the output's shape, BiasAdd, Softmax/LogSoftmax, ZerosLike/
//     OnesLike, _FusedElementwise) writes its output into an input buffer that dies at it:
//     same dtype and size, produced in this step, read once by this node, not fetched.
// Aliasing ops (Identity, StopGradient, Snapshot, Reshape, Squeeze, ExpandDims) share their
// input's buffer. Constants, fed placeholders and variables are not step memory; their bytes
// are reported separately. An unknown dim counts as 1 and makes every figure a lower bound,
// which the report says, naming the nodes. This mirrors what the runtime does dynamically
// (it frees dead tensors and forwards inputs whose buffer it owns alone); with inter-op
// parallelism the real order, and so the real peak, can differ.
#pragma once

#include <string>
#include <vector>

#include "passes/pass_manager.h"

namespace quiver {

struct MemoryPlan {
  int num_tensors = 0;              // step tensors (outputs that need a buffer or alias one)
  int64_t no_reuse_bytes = 0;       // sum of every step buffer
  int64_t liveness_peak_bytes = 0;  // peak with release after last use, no in-place
  int64_t planned_peak_bytes = 0;   // peak with release after last use and in-place forwards
  std::string peak_node;            // the node at which planned_peak_bytes is reached
  int64_t constant_bytes = 0;       // Const outputs (held by the graph, not by a step)
  int64_t fed_bytes = 0;            // placeholder values (the caller's buffers)
  bool lower_bound = false;         // some shape had unknown dims (counted as 1)
  std::vector<std::string> unknown_shapes;  // nodes with an output of unknown dims
  std::vector<std::string> in_place;        // "node <- input:0 (N bytes)"
  // One line per figure, for the pass report and `quiver optimize --report`.
  std::vector<std::string> ToLines() const;
};

// Plans the graph as it would run for `ctx` (fetched tensors are held to the end).
absl::StatusOr<MemoryPlan> PlanMemory(Graph* graph, const PassContext& ctx);

class MemoryPlanningPass : public GraphPass {
 public:
  std::string name() const override { return "memory_planning"; }
  // Adds the plan's lines to the notes; changes nothing.
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

// Control-only prune: removes pure nodes whose values nobody reads, which only ordering
// (control) edges keep alive. Runs after prune.
//
// TF1's gradients wrap each op's input gradients in tf.tuple: an Identity per gradient plus a
// NoOp `group_deps` with a control edge from every gradient, and each Identity waits for the
// NoOp. So the first convolution's Conv2DBackpropInput (the gradient for the input images,
// which no update reads) still runs in every TensorFlow training step, because the filter
// gradient's Identity waits for it. In the TF1 Deep MNIST training step it costs 0.7 ms of
// 12 on 2 cores.
//
// A node X is removed when it is not fetched, fed or targeted; is not stateful and not an
// internal ("_") op; has at least one output (a NoOp is the grouping point, free to run); is
// not an op run for its failure (Placeholder, Assert, CheckNumerics, Print, PrintV2); and has
// no data consumers, only control ones; and no caller asked for it: a control input of a
// fetched, fed or targeted node, directly or through NoOps (`sess.run(tf.group(*ops))` still
// runs the ops). Each control consumer Y of X then waits for X's inputs
// instead (data and control sources become control edges into Y), so every ordering X
// carried is kept. Nodes are visited consumers first, so chains of such nodes go at once.
//
// Observable difference from TensorFlow: an error X would have raised at run time is not
// raised, as for any node prune removes; shapes are still checked when the graph is built.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class ControlOnlyPrunePass : public GraphPass {
 public:
  std::string name() const override { return "control_only_prune"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

// Gradients of the conditional ops (graph/ops/control_flow_ops.cc), so that a model built with
// Cond (graph/cond.h) trains. They need no cond context (TF's _SwitchGrad/_MergeGrad read the
// predicate from it): the backward pass re-routes by what the forward pass did.
//   Merge(x_0..x_{n-1}) -> (y, value_index): the gradient of y goes back to the input that was
//     taken, through _SwitchN(dy, value_index); the other sides are dead, so the backward
//     pass of the untaken branches is skipped too.
//   Switch / _SwitchN(x, selector) -> outputs: dx = Merge(d_0, ..., d_{n-1}); an output
//     without a gradient contributes ZerosLike(itself), which is dead exactly when it was.
#include <vector>

#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::OutputOf;
using GradOutputs = std::vector<Output>;

absl::Status MergeGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  if (!g[0].valid()) return absl::OkStatus();
  const int n = op.num_inputs();
  Node* route = b.OpNode("_SwitchN", {g[0], OutputOf(b, op, 1)},
                         {{"num_outs", MakeAttr(static_cast<int64_t>(n))}}, "SwitchN");
  if (route == nullptr) return b.status();
  for (int k = 0; k < n; ++k) (*gi)[k] = Output(&b, route, k);
  return absl::OkStatus();
}

absl::Status SwitchGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  std::vector<Output> sides;
  for (int k = 0; k < op.num_outputs(); ++k) {
    sides.push_back(g[k].valid() ? g[k] : ZerosLike(OutputOf(b, op, k)));
  }
  (*gi)[0] = b.Op("Merge", sides, {}, "Merge");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Merge", MergeGrad);
QUIVER_REGISTER_GRADIENT("Switch", SwitchGrad);
QUIVER_REGISTER_GRADIENT("_SwitchN", SwitchGrad);

}  // namespace quiver

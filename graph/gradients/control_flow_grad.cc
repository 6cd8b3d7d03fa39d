// Gradients of the conditional ops (graph/ops/control_flow_ops.cc), so that a model built with
// Cond (graph/cond.h) trains. They need no cond context (TF's _SwitchGrad/_MergeGrad read the
// predicate from it): the backward pass re-routes by what the forward pass did.
//   Merge(x_0, x_1) -> (y, value_index): the gradient of y goes back to the input that was
//     taken, through Switch(dy, value_index == 1); the other side is dead, so the backward
//     pass of the untaken branch is skipped too.
//   Switch(x, pred) -> (out_false, out_true): dx = Merge(d_false, d_true); a side without a
//     gradient contributes ZerosLike(its output), which is dead exactly when that side was.
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::OutputOf;
using GradOutputs = std::vector<Output>;

absl::Status MergeGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  if (op.num_inputs() != 2) {
    return absl::UnimplementedError(
        absl::StrCat("gradient of Merge node '", op.name(), "' with ", op.num_inputs(),
                     " inputs: only two-way Merges (conditionals) are supported"));
  }
  if (!g[0].valid()) return absl::OkStatus();
  Output took_true =
      b.Op("Equal", {OutputOf(b, op, 1), b.Const(Tensor::Scalar<int32_t>(1))}, {}, "took_true");
  Node* route = b.OpNode("Switch", {g[0], took_true}, {}, "Switch");
  if (route == nullptr) return b.status();
  (*gi)[0] = Output(&b, route, 0);
  (*gi)[1] = Output(&b, route, 1);
  return absl::OkStatus();
}

absl::Status SwitchGrad(GraphBuilder& b, const Node& op, const GradOutputs& g, GradOutputs* gi) {
  std::vector<Output> sides;
  for (int k = 0; k < 2; ++k) {
    sides.push_back(g[k].valid() ? g[k] : ZerosLike(OutputOf(b, op, k)));
  }
  (*gi)[0] = b.Op("Merge", sides, {}, "Merge");
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("Merge", MergeGrad);
QUIVER_REGISTER_GRADIENT("Switch", SwitchGrad);

}  // namespace quiver

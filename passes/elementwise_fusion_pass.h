// Element-wise fusion (XLA's loop fusion / TVM's injective fusion, reduced to one output per
// group): trees of float element-wise ops (Add/AddV2/BiasAdd(NHWC), Sub, Mul, RealDiv/Div,
// Maximum, Minimum, SquaredDifference, Neg, Abs, Square, Sqrt, Rsqrt, Exp, Log, Tanh, Sigmoid,
// Relu, Relu6, Elu, Reciprocal, Floor, Ceil) become one _FusedElementwise node whose `program`
// attr lists the instructions (devices/common/elementwise_program.h); one kernel then walks
// the output once instead of once per op, with broadcasting of the group's inputs.
//
// Groups grow from a root (visited consumers-first) backwards through its producers. A
// producer joins only when every one of its consumers is already in the group, it is neither
// fetched, fed nor targeted, it has no control edges, it is on the root's requested and
// assigned device, has the root's dtype and exactly the root's output shape (a smaller,
// broadcast intermediate would be recomputed per output element), and the group stays within
// the program limits (16 inputs, 64 instructions). The root keeps its name and control edges,
// so consumers and fetches keep working; a group of one op is left alone. A root on a device
// or dtype without a _FusedElementwise kernel is not fused. Every producer that could have
// joined a group but did not, and every such root, gets a note with the reason.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class ElementwiseFusionPass : public GraphPass {
 public:
  std::string name() const override { return "elementwise_fusion"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

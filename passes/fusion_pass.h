// Operator fusion (TF's Grappler remapper, reduced to the two patterns that matter most on
// the CPU): MatMul + BiasAdd [+ activation] -> _FusedMatMul and Conv2D + BiasAdd
// [+ activation] -> _FusedConv2D, with fused_ops ["BiasAdd"] or ["BiasAdd", act] and the
// bias as the single arg. An Add/AddV2 of the product and a 1-D tensor of shape [N] (N the
// last dim of the product) counts as a BiasAdd. Activations: Relu, Relu6, Elu, Tanh, Sigmoid.
//
// A chain is fused only when every node but the last has exactly one consumer, is neither
// fetched, fed nor targeted, and has no control edges; all nodes share the requested and
// assigned device; and a CPU kernel exists for the fused op with that dtype. The fused node
// takes the last node's name (and its control edges), so consumers and fetches keep working.
// Every candidate that is not fused gets a note saying why.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class FusionPass : public GraphPass {
 public:
  std::string name() const override { return "fusion"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

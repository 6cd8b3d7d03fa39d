// Arithmetic simplification: algebraic no-ops and cheaper equivalents (a slice of TF
// Grappler's ArithmeticOptimizer / ORT's *Elimination transformers).
//
// Rewrites, each only when the node is not fetched, fed or targeted (its name must survive)
// unless noted:
//   x * 1, 1 * x, x + 0, 0 + x, x - 0  -> x   when the constant is all ones/zeros and the
//       inferred output shape is fully known and equal to x's (a broadcasting x * 1 changes
//       the shape and stays);
//   Identity(x)                        -> x   unless x is a variable ref (that Identity is the
//       read that snapshots the variable) or the Identity moves x to another device;
//   Transpose(Transpose(x, p), q)      -> x   when applying p then q is the identity;
//   Cast(x) to x's own dtype           -> x;
//   Reshape(x, s) to x's known shape   -> x;
//   Mul(x, x)                          -> Square(x), same name (allowed on fetched nodes).
// Consumers keep their ordering: control edges move to the replacement. Inputs left without
// consumers (e.g. the constant 1) are removed. Runs to a fixed point.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class ArithmeticSimplificationPass : public GraphPass {
 public:
  std::string name() const override { return "arithmetic_simplification"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

// Common subexpression elimination: merges nodes that compute the same thing (TF's
// OptimizeCSE, ORT's CommonSubexpressionElimination).
//
// Two nodes are equal when they have the same op, the same data inputs in the same order
// (sorted for commutative ops), the same control inputs, the same attrs and the same
// requested device. The first in topological order is kept and the other's consumers are
// rewired to it. Never merged: stateful ops, Placeholders, internal ("_") ops, nodes with
// ref inputs or outputs (each read of a variable is its own snapshot), fed nodes (their
// value comes from the caller), and a duplicate that is fetched or targeted (its name must
// stay; it may still serve as the kept node for later duplicates).
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class CsePass : public GraphPass {
 public:
  std::string name() const override { return "cse"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

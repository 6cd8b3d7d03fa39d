// Constant folding: evaluates nodes whose data inputs are all constants with their CPU
// kernel and replaces each by a Const of the same name (TF Grappler's ConstantFolding, ORT's
// ConstantFolding transformer).
//
// A node folds when: every data input is an unfed Const, it has at least one input and
// one output (a multi-output node becomes one Const per output, "<name>/folded_<k>", unless
// it is fetched or targeted by name), it is not stateful (variables, assignments, random ops), not
// a Placeholder or internal ("_") op, not fed, and its output fits in
// PassContext::max_constant_bytes. Shape, Size and Rank of a tensor whose static shape is known
// fold too, whatever their input's values (Grappler's MaterializeShapes), unless a tensor other
// than a Placeholder is fed. The replacement keeps the name, requested device and
// control inputs; input Consts left without consumers are removed. Nodes are visited in
// topological order until nothing changes, so chains fold completely. A kernel that is
// missing or fails leaves the node alone with a note.
#pragma once

#include "passes/pass_manager.h"

namespace quiver {

class ConstantFoldingPass : public GraphPass {
 public:
  std::string name() const override { return "constant_folding"; }
  absl::StatusOr<PassStats> Run(Graph* graph, const PassContext& ctx) override;
};

}  // namespace quiver

#include "graph/cond.h"

#include "absl/strings/str_cat.h"

namespace quiver {

std::vector<Output> Cond(GraphBuilder& b, Output pred, const std::vector<Output>& inputs,
                         const CondBranch& then_branch, const CondBranch& else_branch,
                         const std::string& name) {
  if (!b.status().ok()) return {};
  if (!pred.valid() || pred.dtype() != DT_BOOL) {
    b.Fail(absl::InvalidArgumentError(
        absl::StrCat("Cond '", name, "': pred must be a bool tensor, got ",
                     pred.valid() ? DataTypeName(pred.dtype()) : std::string("a null Output"))));
    return {};
  }
  auto scope = b.name_scope(name);
  Output pred_id = b.Op("Identity", {pred}, {}, "pred_id");
  Node* pred_switch = b.OpNode("Switch", {pred_id, pred_id}, {}, "Switch");
  if (pred_switch == nullptr) return {};
  std::vector<Output> results[2];  // [0]: else (Switch's output_false), [1]: then
  for (int side = 0; side < 2; ++side) {
    const char* label = side == 1 ? "switch_t" : "switch_f";
    Output pivot = b.Op("Identity", {Output(&b, pred_switch, side)}, {}, label);
    if (!pivot.valid()) return {};
    // The input Switches stay outside the pivot's scope: each must run on both sides, so
    // that its other output is alive there (a gradient's zeros come from it).
    std::vector<Output> args;
    for (const Output& in : inputs) {
      Node* sw = b.OpNode("Switch", {in, pred_id}, {}, "Switch");
      if (sw == nullptr) return {};
      args.emplace_back(&b, sw, side);
    }
    auto deps = b.control_dependencies({pivot.node()});
    results[side] = (side == 1 ? then_branch : else_branch)(b, args);
    if (!b.status().ok()) return {};
  }
  if (results[0].size() != results[1].size()) {
    b.Fail(absl::InvalidArgumentError(absl::StrCat("Cond '", name, "': the true branch returns ",
                                                   results[1].size(), " tensors, the false branch ",
                                                   results[0].size())));
    return {};
  }
  std::vector<Output> merged;
  for (size_t k = 0; k < results[0].size(); ++k) {
    const Output& f = results[0][k];
    const Output& t = results[1][k];
    if (!f.valid() || !t.valid()) {
      b.Fail(absl::InvalidArgumentError(
          absl::StrCat("Cond '", name, "': result ", k, " of a branch is a null Output")));
      return {};
    }
    if (f.dtype() != t.dtype()) {
      b.Fail(absl::InvalidArgumentError(absl::StrCat(
          "Cond '", name, "': result ", k, " is ", DataTypeName(t.dtype()),
          " in the true branch but ", DataTypeName(f.dtype()), " in the false branch")));
      return {};
    }
    merged.push_back(b.Op("Merge", {f, t}, {}, "Merge"));
  }
  return merged;
}

}  // namespace quiver

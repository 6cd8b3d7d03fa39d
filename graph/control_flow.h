// Names of the conditional ops (graph/ops/control_flow_ops.cc), for the executor and passes
// that must treat them specially: a Switch's outputs can be dead while the Switch ran, and a
// Merge is alive when any of its inputs is.
#pragma once

#include <string>

namespace quiver {

// Switch and RefSwitch (two outputs, bool predicate) and _SwitchN (N outputs, int32 index:
// TF2's Case lowered).
inline bool IsSwitchOp(const std::string& op) {
  return op == "Switch" || op == "RefSwitch" || op == "_SwitchN";
}

inline bool IsMergeOp(const std::string& op) { return op == "Merge" || op == "RefMerge"; }

}  // namespace quiver

// Lowers TensorFlow 2 resource-variable graphs to the TF1 ref-variable ops Quiver runs.
//
// TF2 writes tf.compat.v1 graphs with resource variables by default: a VarHandleOp produces a
// DT_RESOURCE handle and every access goes through an op that takes the handle
// (ReadVariableOp, AssignVariableOp, ResourceApplyAdam, ...). Quiver's variables have
// copy-on-write update semantics (a tensor a reader got never changes under it), which is
// exactly what resource variables promise, so the importer rewrites the GraphDef before it
// builds the Graph:
//
//   VarHandleOp(dtype, shape, container, shared_name)  -> VariableV2 (same attrs; storage is
//                                                          keyed by shared_name when set, so
//                                                          handles sharing it share the value)
//   ReadVariableOp(h) {dtype}                          -> Identity(ref) {T: dtype}
//   AssignVariableOp(h, v) {dtype}                     -> Assign(ref, v) {T: dtype,
//                                                          validate_shape: the handle's shape
//                                                          is fully defined}
//   AssignAddVariableOp / AssignSubVariableOp          -> AssignAdd / AssignSub {T: dtype}
//   VarIsInitializedOp(h)                              -> IsVariableInitialized(ref) {dtype}
//   ResourceApplyX(h..., ...) {T, use_locking, ...}    -> ApplyX(ref..., ...), same attrs, for
//                                                          every ApplyX the registry knows
//   Identity(h) with T = resource                      -> removed: consumers (data and control)
//                                                          use the handle's variable directly
//   VariableShape(h) {out_type}                        -> Shape(ref) {T: dtype, out_type}
//   ResourceGather(h, indices) {batch_dims}            -> GatherV2(ref, indices, axis) with a
//                                                          Const "<name>/axis" = batch_dims
//
// Conditionals (TF1 tf.cond reading a variable in a branch, and TF2 If/StatelessIf, which the
// importer lowers onto Switch/Merge first, graph/function_inlining.h) switch the handle:
//
//   Switch(h, pred) {T: resource}                      -> RefSwitch(ref, pred) {T: dtype}: the
//                                                          untaken side is dead, nothing is read
//   Identity(Switch output) {T: resource}              -> RefIdentity(ref) {T: dtype}: kept, it
//                                                          is dead with its branch
//   any op above on a Switch/RefIdentity output        -> the same op on the RefSwitch/RefIdentity
//                                                          output (reads then happen in the branch)
//
// cond_v2's gradient passes the forward branches' intermediates to the gradient branches as
// Optionals (DT_VARIANT values, which Quiver lacks; the ops are not in the registry). They
// are replaced first, by the values they wrap: OptionalFromValue and OptionalGetValue become
// Identity, OptionalNone (made only by the branch whose value no gradient reads) a Const of zero
// elements, and the variant Switch/Merge/Identity/IdentityN between them take the wrapped
// value's dtype. Any other DT_VARIANT is an InvalidArgument error naming the node.
//
// Node names, devices, control inputs and "_"-prefixed attrs (colocation) are kept, so the TF
// names of init/train ops and of reads can be fetched and targeted. The lowered assign/apply
// ops have one ref output that no consumer uses (TF's have none).
//
// Everything else that carries a resource (a DT_RESOURCE Placeholder from a tf.function
// capture, a handle consumed by an op not listed above, a read whose input is not a handle)
// is an InvalidArgument error naming the node and its op. After lowering no DT_RESOURCE
// value is left, which graph/types.h cannot represent.
#pragma once

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace quiver {

// True when `graph_def` has any node that produces, consumes or declares a resource value
// (resource-variable ops, or an attr of type DT_RESOURCE), or a cond_v2 Optional (an Optional
// op, or an attr of type DT_VARIANT). Cheap: one pass over the nodes.
bool UsesResourceVariables(const tensorflow::GraphDef& graph_def);

// The ref-variable equivalent of `graph_def` (see above), or an InvalidArgument error that
// names the offending node and op.
absl::StatusOr<tensorflow::GraphDef> LowerResourceVariables(const tensorflow::GraphDef& graph_def);

}  // namespace quiver

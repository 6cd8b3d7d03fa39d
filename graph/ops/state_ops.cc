// TF1 state ops (ref-typed variables), with TensorFlow's signatures from ops/state_ops.cc.
//
// Assign/AssignAdd/AssignSub are marked stateful here although TF is not: TF keeps them out of
// CSE and constant folding by looking for ref inputs, while Quiver's passes look at
// is_stateful; either way two identical assignments must both run.
#include <string>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// The most specific shape compatible with both, or an error when they conflict.
bool MergeShapes(const TensorShape& a, const TensorShape& b, TensorShape* out) {
  if (a.unknown_rank()) {
    *out = b;
    return true;
  }
  if (b.unknown_rank()) {
    *out = a;
    return true;
  }
  if (a.rank() != b.rank()) return false;
  std::vector<int64_t> dims(a.rank());
  for (int i = 0; i < a.rank(); ++i) {
    if (a.dim(i) >= 0 && b.dim(i) >= 0 && a.dim(i) != b.dim(i)) return false;
    dims[i] = a.dim(i) >= 0 ? a.dim(i) : b.dim(i);
  }
  *out = TensorShape(std::move(dims));
  return true;
}

absl::Status VariableV2Shape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape shape, c.GetAttr<TensorShape>("shape"));
  c.set_output(0, shape);
  return absl::OkStatus();
}

// The old Variable op cannot tell a scalar shape attr from "unknown": TF treats [] as unknown.
absl::Status LegacyVariableShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape shape, c.GetAttr<TensorShape>("shape"));
  c.set_output(0, shape.rank() <= 0 ? TensorShape::UnknownRank() : shape);
  return absl::OkStatus();
}

absl::Status AssignShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(bool validate_shape, c.GetAttr<bool>("validate_shape"));
  if (!validate_shape) {  // the variable takes the value's shape
    c.set_output(0, c.input_shape(1));
    return absl::OkStatus();
  }
  TensorShape merged;
  if (!MergeShapes(c.input_shape(0), c.input_shape(1), &merged)) {
    return c.Error(absl::StrCat("Assign requires shapes of both tensors to match. lhs shape= ",
                                c.input_shape(0).DebugString(),
                                " rhs shape= ", c.input_shape(1).DebugString()));
  }
  c.set_output(0, merged);
  return absl::OkStatus();
}

absl::Status AssignUpdateShape(InferenceContext& c) {
  TensorShape merged;
  if (!MergeShapes(c.input_shape(0), c.input_shape(1), &merged)) {
    return c.Error(absl::StrCat("variable of shape ", c.input_shape(0).DebugString(),
                                " cannot be updated with a value of shape ",
                                c.input_shape(1).DebugString()));
  }
  c.set_output(0, merged);
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("VariableV2")
    .Output("ref: Ref(dtype)")
    .Attr("shape: shape")
    .Attr("dtype: type")
    .Attr("container: string = ''")
    .Attr("shared_name: string = ''")
    .SetIsStateful()
    .SetShapeFn(VariableV2Shape);

QUIVER_REGISTER_OP("Variable")
    .Output("ref: Ref(dtype)")
    .Attr("shape: shape")
    .Attr("dtype: type")
    .Attr("container: string = ''")
    .Attr("shared_name: string = ''")
    .SetIsStateful()
    .SetShapeFn(LegacyVariableShape);

QUIVER_REGISTER_OP("IsVariableInitialized")
    .Input("ref: Ref(dtype)")
    .Output("is_initialized: bool")
    .Attr("dtype: type")
    .SetShapeFn(shape_fn::Scalar);

QUIVER_REGISTER_OP("Assign")
    .Input("ref: Ref(T)")
    .Input("value: T")
    .Output("output_ref: Ref(T)")
    .Attr("T: type")
    .Attr("validate_shape: bool = true")
    .Attr("use_locking: bool = true")
    .SetIsStateful()
    .SetShapeFn(AssignShape);

QUIVER_REGISTER_OP("AssignAdd")
    .Input("ref: Ref(T)")
    .Input("value: T")
    .Output("output_ref: Ref(T)")
    .Attr("T: {float, double, int32, int64, int8, int16, uint8, half, bfloat16}")
    .Attr("use_locking: bool = false")
    .SetIsStateful()
    .SetShapeFn(AssignUpdateShape);

QUIVER_REGISTER_OP("AssignSub")
    .Input("ref: Ref(T)")
    .Input("value: T")
    .Output("output_ref: Ref(T)")
    .Attr("T: {float, double, int32, int64, int8, int16, uint8, half, bfloat16}")
    .Attr("use_locking: bool = false")
    .SetIsStateful()
    .SetShapeFn(AssignUpdateShape);

}  // namespace quiver

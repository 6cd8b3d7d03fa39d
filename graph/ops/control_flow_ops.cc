// TF1 conditionals (control flow v1), with TensorFlow's signatures from ops/control_flow_ops.cc.
//
// Switch forwards `data` to output_true or output_false by `pred`; the other output is *dead*:
// every node that reads a dead tensor (or waits on a dead node) is skipped and its outputs are
// dead too, until a Merge, which forwards whichever of its inputs is alive. This is how
// tf.cond's two branches share one graph and only the taken one runs (runtime/executor.h).
// TF2's functional If/StatelessIf are lowered onto these at import (graph/function_inlining.h).
#include <string>

#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

absl::Status SwitchShape(InferenceContext& c) {
  if (c.input_shape(1).rank() > 0) {
    return c.Error("pred must be a scalar, got shape " + c.input_shape(1).DebugString());
  }
  c.set_output(0, c.input_shape(0));
  c.set_output(1, c.input_shape(0));
  return absl::OkStatus();
}

// The branches of a conditional may produce different shapes: keep what they agree on.
TensorShape CommonShape(const TensorShape& a, const TensorShape& b) {
  if (a.unknown_rank() || b.unknown_rank() || a.rank() != b.rank()) {
    return TensorShape::UnknownRank();
  }
  std::vector<int64_t> dims(a.rank());
  for (int i = 0; i < a.rank(); ++i) {
    dims[i] = a.dim(i) == b.dim(i) ? a.dim(i) : TensorShape::kUnknownDim;
  }
  return TensorShape(dims);
}

absl::Status MergeShape(InferenceContext& c) {
  if (c.num_inputs() == 0) return c.Error("Merge needs at least one input");
  TensorShape out = c.input_shape(0);
  for (int i = 1; i < c.num_inputs(); ++i) out = CommonShape(out, c.input_shape(i));
  c.set_output(0, out);
  c.set_output(1, TensorShape({}));
  return absl::OkStatus();
}

absl::Status SwitchNShape(InferenceContext& c) {
  if (c.input_shape(1).rank() > 0) {
    return c.Error("output_index must be a scalar, got shape " + c.input_shape(1).DebugString());
  }
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, c.input_shape(0));
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("Switch")
    .Input("data: T")
    .Input("pred: bool")
    .Output("output_false: T")
    .Output("output_true: T")
    .Attr("T: type")
    .SetShapeFn(SwitchShape);

QUIVER_REGISTER_OP("RefSwitch")
    .Input("data: Ref(T)")
    .Input("pred: bool")
    .Output("output_false: Ref(T)")
    .Output("output_true: Ref(T)")
    .Attr("T: type")
    .SetShapeFn(SwitchShape);

QUIVER_REGISTER_OP("Merge")
    .Input("inputs: N * T")
    .Output("output: T")
    .Output("value_index: int32")
    .Attr("T: type")
    .Attr("N: int >= 1")
    .SetShapeFn(MergeShape);

// TF's _SwitchN (what TF2's Case lowers onto): `data` goes to output `output_index`, or to the
// last output when the index is out of range (Case's default branch); the others are dead.
QUIVER_REGISTER_OP("_SwitchN")
    .Input("data: T")
    .Input("output_index: int32")
    .Output("outputs: num_outs * T")
    .Attr("num_outs: int >= 1")
    .Attr("T: type")
    .SetShapeFn(SwitchNShape);

QUIVER_REGISTER_OP("RefMerge")
    .Input("inputs: Ref(N * T)")
    .Output("output: Ref(T)")
    .Output("value_index: int32")
    .Attr("T: type")
    .Attr("N: int >= 1")
    .SetShapeFn(MergeShape);

}  // namespace quiver

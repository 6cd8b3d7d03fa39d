// Fused ops the fusion pass creates (TF's Grappler remapper ops): _FusedMatMul and
// _FusedConv2D compute MatMul/Conv2D followed by the ops in `fused_ops` (a BiasAdd whose bias
// is `args[0]`, then optionally one activation). Signatures follow TF.
#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// The output shape is the unfused op's; its shape function is looked up at call time (not at
// registration) because static registration order across files is unspecified.
ShapeFn SameShapeAs(const char* unfused_op) {
  return [unfused_op](InferenceContext& c) -> absl::Status {
    const OpDef* def = OpRegistry::Global().Find(unfused_op);
    if (def == nullptr || !def->shape_fn) return shape_fn::Unknown(c);
    RETURN_IF_ERROR(def->shape_fn(c));
    // A BiasAdd's bias must be [channels] (the last dim of the result).
    if (c.num_inputs() > 2) {
      const TensorShape& bias = c.input_shape(2);
      const TensorShape& out = c.output(0);
      if (bias.unknown_rank()) return absl::OkStatus();
      if (bias.rank() != 1) {
        return c.Error(absl::StrCat("bias must be 1-D, got ", bias.DebugString()));
      }
      if (!out.unknown_rank() && out.rank() > 0) {
        const int64_t n = out.dim(out.rank() - 1), b = bias.dim(0);
        if (n >= 0 && b >= 0 && n != b) {
          return c.Error(absl::StrCat("bias ", bias.DebugString(), " must match the last dim of ",
                                      out.DebugString()));
        }
      }
    }
    return absl::OkStatus();
  };
}

}  // namespace

QUIVER_REGISTER_OP("_FusedMatMul")
    .Input("a: T")
    .Input("b: T")
    .Input("args: num_args * T")
    .Output("product: T")
    .Attr("transpose_a: bool = false")
    .Attr("transpose_b: bool = false")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("num_args: int >= 0")
    .Attr("fused_ops: list(string) = []")
    .Attr("epsilon: float = 0.0001")
    .SetShapeFn(SameShapeAs("MatMul"));

QUIVER_REGISTER_OP("_FusedConv2D")
    .Input("input: T")
    .Input("filter: T")
    .Input("args: num_args * T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("num_args: int >= 0")
    .Attr("strides: list(int)")
    .Attr("padding: {'SAME', 'VALID', 'EXPLICIT'}")
    .Attr("explicit_paddings: list(int) = []")
    .Attr("data_format: {'NHWC'} = 'NHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1]")
    .Attr("use_cudnn_on_gpu: bool = true")
    .Attr("fused_ops: list(string) = []")
    .Attr("epsilon: float = 0.0001")
    .SetShapeFn(SameShapeAs("Conv2D"));

}  // namespace quiver

// _FusedElementwise: a tree of element-wise ops evaluated in one pass over the output, made by
// the elementwise_fusion pass. Inputs broadcast against each other with NumPy rules; the
// output has the broadcast shape of all inputs. `program` is the expression, one instruction
// per entry over registers i0..i{N-1} (the inputs) and r0.. (earlier results); the last
// instruction's result is the output. The format is documented in
// devices/common/elementwise_program.h, e.g. ["Add i0 i1", "Relu r0", "Mul r1 i2"].
#include "absl/strings/str_cat.h"
#include "devices/common/elementwise_program.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

absl::Status FusedElementwiseShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("N"));
  ASSIGN_OR_RETURN(std::vector<std::string> program,
                   c.GetAttr<std::vector<std::string>>("program"));
  if (absl::StatusOr<elementwise::Program> p = elementwise::Parse(static_cast<int>(n), program);
      !p.ok()) {
    return c.Error(std::string(p.status().message()));
  }
  TensorShape out;  // a scalar broadcasts against anything
  for (int i = 0; i < c.num_inputs(); ++i) {
    absl::StatusOr<TensorShape> b = shape_fn::BroadcastShapes(out, c.input_shape(i));
    if (!b.ok()) return c.Error(std::string(b.status().message()));
    out = *std::move(b);
  }
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("_FusedElementwise")
    .Input("inputs: N * T")
    .Output("y: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("N: int >= 1")
    .Attr("program: list(string)")
    .SetShapeFn(FusedElementwiseShape);

}  // namespace quiver

// The transformer ops of TF2 graphs: Einsum (Keras MultiHeadAttention and EinsumDense) and
// MatrixBandPart (causal masks). Signatures follow TensorFlow's ops/linalg_ops.cc and
// ops/array_ops.cc, with the same arg and attr names and defaults, so imported GraphDefs resolve
// unchanged. The equation logic (graph/einsum_equation.h) is shared with the kernels and the
// gradient, so shape inference and the kernels accept the same equations with the same messages.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/einsum_equation.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// Einsum: the exact output shape when the inputs' ranks are known; unknown dims flow as -1. An
// input of unknown rank whose subscripts have no "..." has one (unknown) dim per label; with an
// ellipsis, the output has unknown rank when its subscripts hold one too.
absl::Status EinsumShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(std::string equation, c.GetAttr<std::string>("equation"));
  absl::StatusOr<einsum::Equation> eq = einsum::ParseEquation(equation, c.num_inputs());
  if (!eq.ok()) return c.Error(std::string(eq.status().message()));
  std::vector<TensorShape> shapes;
  for (int i = 0; i < c.num_inputs(); ++i) {
    TensorShape s = c.input_shape(i);
    if (s.unknown_rank()) {
      if (einsum::HasEllipsis(eq->inputs[i]) && einsum::HasEllipsis(eq->output)) {
        c.set_output(0, TensorShape::UnknownRank());
        return absl::OkStatus();
      }
      // Without an output ellipsis the input's ellipsis (if any) must stand for no dims.
      s = TensorShape(std::vector<int64_t>(einsum::NumNamedLabels(eq->inputs[i]), -1));
    }
    shapes.push_back(std::move(s));
  }
  absl::StatusOr<einsum::Resolved> r = einsum::Resolve(*eq, shapes);
  if (!r.ok()) return c.Error(std::string(r.status().message()));
  c.set_output(0, TensorShape(r->OutputDims()));
  return absl::OkStatus();
}

// MatrixBandPart: the input's shape (rank >= 2); the band limits are scalars.
absl::Status MatrixBandPartShape(InferenceContext& c) {
  const TensorShape& in = c.input_shape(0);
  if (!in.unknown_rank() && in.rank() < 2) {
    return c.Error(absl::StrCat("input must be at least 2-D (a batch of matrices), got shape ",
                                in.DebugString()));
  }
  for (int i = 1; i <= 2; ++i) {
    const TensorShape& s = c.input_shape(i);
    if (!s.unknown_rank() && s.rank() != 0) {
      return c.Error(absl::StrCat(i == 1 ? "num_lower" : "num_upper",
                                  " must be a scalar, got shape ", s.DebugString()));
    }
  }
  c.set_output(0, in);
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("Einsum")
    .Input("inputs: N * T")
    .Output("output: T")
    .Attr("equation: string")
    .Attr("N: int >= 1")
    .Attr("T: {bfloat16, half, float, double, int32, int64}")
    .SetShapeFn(EinsumShape);

QUIVER_REGISTER_OP("MatrixBandPart")
    .Input("input: T")
    .Input("num_lower: Tindex")
    .Input("num_upper: Tindex")
    .Output("band: T")
    .Attr("T: type")
    .Attr("Tindex: {int32, int64} = DT_INT64")
    .SetShapeFn(MatrixBandPartShape);

}  // namespace quiver

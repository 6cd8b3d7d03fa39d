// Stateful random ops (TF's ops/random_ops.cc): RandomUniform, RandomStandardNormal,
// TruncatedNormal and RandomUniformInt. The output shape comes from the `shape` input, which
// is usually a Const, so the shape function reads its value when it is known.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/array_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

// The output shape from the `shape` input (0): its value when known, else as many unknown
// dims as it has elements, else unknown rank.
absl::Status RandomShape(InferenceContext& c) {
  const TensorShape& s = c.input_shape(0);
  if (!s.unknown_rank() && s.rank() != 1) {
    return c.Error("shape must be a 1-D tensor of dims, got shape " + s.DebugString());
  }
  if (const Tensor* t = c.input_tensor(0)) {
    auto dims = t->AsInt64Vector();
    if (!dims.ok()) return c.Error(std::string(dims.status().message()));
    auto out = array_shapes::ShapeFromDims(*dims, /*allow_unknown=*/false);
    if (!out.ok()) return c.Error("shape: " + std::string(out.status().message()));
    c.set_output(0, *out);
    return absl::OkStatus();
  }
  if (!s.unknown_rank() && s.dim(0) >= 0) {
    c.set_output(0, TensorShape(std::vector<int64_t>(s.dim(0), TensorShape::kUnknownDim)));
  } else {
    c.set_output(0, TensorShape::UnknownRank());
  }
  return absl::OkStatus();
}

absl::Status RandomUniformIntShape(InferenceContext& c) {
  // TF accepts 1-element vectors here for old graphs; the kernel then wants scalars.
  for (int i : {1, 2}) {
    const TensorShape& s = c.input_shape(i);
    if (!s.unknown_rank() && s.rank() > 1) {
      return c.Error(absl::StrCat(i == 1 ? "minval" : "maxval", " must be a scalar, got shape ",
                                  s.DebugString()));
    }
  }
  return RandomShape(c);
}

}  // namespace

QUIVER_REGISTER_OP("RandomUniform")
    .Input("shape: T")
    .SetIsStateful()
    .Output("output: dtype")
    .Attr("seed: int = 0")
    .Attr("seed2: int = 0")
    .Attr("dtype: {half, bfloat16, float, double}")
    .Attr("T: {int32, int64}")
    .SetShapeFn(RandomShape);

QUIVER_REGISTER_OP("RandomStandardNormal")
    .Input("shape: T")
    .SetIsStateful()
    .Output("output: dtype")
    .Attr("seed: int = 0")
    .Attr("seed2: int = 0")
    .Attr("dtype: {half, bfloat16, float, double}")
    .Attr("T: {int32, int64}")
    .SetShapeFn(RandomShape);

QUIVER_REGISTER_OP("TruncatedNormal")
    .Input("shape: T")
    .SetIsStateful()
    .Output("output: dtype")
    .Attr("seed: int = 0")
    .Attr("seed2: int = 0")
    .Attr("dtype: {half, bfloat16, float, double}")
    .Attr("T: {int32, int64}")
    .SetShapeFn(RandomShape);

QUIVER_REGISTER_OP("RandomUniformInt")
    .Input("shape: T")
    .Input("minval: Tout")
    .Input("maxval: Tout")
    .SetIsStateful()
    .Output("output: Tout")
    .Attr("seed: int = 0")
    .Attr("seed2: int = 0")
    .Attr("Tout: {int32, int64}")
    .Attr("T: {int32, int64}")
    .SetShapeFn(RandomUniformIntShape);

}  // namespace quiver

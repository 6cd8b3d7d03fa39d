// Miscellaneous TF ops that TF2/Keras graphs use (TF's ops/math_ops.cc and array_ops.cc):
//
//   LinSpace(start, stop, num)               num evenly spaced values, stop exact at the end
//   Unique(x) -> (y, idx)                    distinct values of a vector, first-occurrence order
//   TensorScatterUpdate/Add(tensor, indices, updates)   tf.tensor_scatter_nd_update / _add
//   SegmentSum/SegmentMean(data, segment_ids)           sorted-segment reductions
//
// CPU kernels: devices/cpu/kernels/misc_extra_ops.cc; gradients:
// graph/gradients/misc_extra_grad.cc.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/array_extra_shapes.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

absl::Status RequireScalar(InferenceContext& c, int i, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != 0) {
    return c.Error(absl::StrCat(what, " must be a scalar, not shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

absl::Status LinSpaceShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(RequireScalar(c, 0, "start"));
  RETURN_IF_ERROR(RequireScalar(c, 1, "stop"));
  RETURN_IF_ERROR(RequireScalar(c, 2, "num"));
  int64_t num = kUnknown;
  if (const Tensor* t = c.input_tensor(2); t != nullptr && t->valid()) {
    auto v = t->AsInt64Vector();
    if (!v.ok()) return c.Error(std::string(v.status().message()));
    if (v->size() == 1) {
      num = (*v)[0];
      if (num <= 0) return c.Error(absl::StrCat("Requires num > 0: ", num));
    }
  }
  c.set_output(0, TensorShape{num});
  return absl::OkStatus();
}

absl::Status UniqueShapeFn(InferenceContext& c) {
  const TensorShape& x = c.input_shape(0);
  if (!x.unknown_rank() && x.rank() != 1) {
    return c.Error("unique expects a 1D vector, got shape " + x.DebugString());
  }
  c.set_output(0, TensorShape{kUnknown});
  c.set_output(1, x.unknown_rank() ? TensorShape{kUnknown} : x);
  return absl::OkStatus();
}

// tensor, indices [..., N], updates = indices.shape[:-1] + tensor.shape[N:] -> tensor's shape.
absl::Status TensorScatterShapeFn(InferenceContext& c) {
  const TensorShape& tensor = c.input_shape(0);
  bool known = !tensor.unknown_rank();
  for (int d = 0; known && d < tensor.rank(); ++d) known = tensor.dim(d) >= 0;
  std::vector<int64_t> dims;
  if (known) dims.assign(tensor.dims().begin(), tensor.dims().end());
  auto s = array_extra_shapes::ScatterNdShape(c.input_shape(1), c.input_shape(2),
                                              known ? &dims : nullptr,
                                              tensor.unknown_rank() ? -1 : tensor.rank());
  if (!s.ok()) return c.Error(std::string(s.status().message()));
  c.set_output(0, tensor);
  return absl::OkStatus();
}

// data [n, ...], segment_ids [n] -> [unknown] + data.shape[1:].
absl::Status SegmentShapeFn(InferenceContext& c) {
  const TensorShape& data = c.input_shape(0);
  const TensorShape& ids = c.input_shape(1);
  if (!ids.unknown_rank() && ids.rank() != 1) {
    return c.Error("segment_ids should be a vector, got shape " + ids.DebugString());
  }
  if (data.unknown_rank()) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  if (data.rank() < 1) return c.Error("data must be at least rank 1, got a scalar");
  if (!ids.unknown_rank() && ids.dim(0) >= 0 && data.dim(0) >= 0 && ids.dim(0) != data.dim(0)) {
    return c.Error(absl::StrCat("segment_ids should be the same size as dimension 0 of input: ",
                                ids.dim(0), " vs ", data.dim(0)));
  }
  std::vector<int64_t> out = {kUnknown};
  for (int d = 1; d < data.rank(); ++d) out.push_back(data.dim(d));
  c.set_output(0, TensorShape(out));
  return absl::OkStatus();
}

// TF's list less the complex and quantized types, which Quiver has no dtype for.
constexpr char kSegmentTypes[] =
    "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
    "uint64}";

}  // namespace

QUIVER_REGISTER_OP("LinSpace")
    .Input("start: T")
    .Input("stop: T")
    .Input("num: Tidx")
    .Output("output: T")
    .Attr("T: {bfloat16, half, float, double}")
    .Attr("Tidx: {int32, int64} = DT_INT32")
    .SetShapeFn(LinSpaceShapeFn);

QUIVER_REGISTER_OP("Unique")
    .Input("x: T")
    .Output("y: T")
    .Output("idx: out_idx")
    .Attr("T: type")
    .Attr("out_idx: {int32, int64} = DT_INT32")
    .SetShapeFn(UniqueShapeFn);

QUIVER_REGISTER_OP("TensorScatterUpdate")
    .Input("tensor: T")
    .Input("indices: Tindices")
    .Input("updates: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tindices: {int16, int32, int64, uint16}")
    .Attr("bad_indices_policy: string = ''")
    .SetShapeFn(TensorScatterShapeFn);

QUIVER_REGISTER_OP("TensorScatterAdd")
    .Input("tensor: T")
    .Input("indices: Tindices")
    .Input("updates: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tindices: {int32, int64}")
    .Attr("bad_indices_policy: string = ''")
    .SetShapeFn(TensorScatterShapeFn);

QUIVER_REGISTER_OP("SegmentSum")
    .Input("data: T")
    .Input("segment_ids: Tindices")
    .Output("output: T")
    .Attr(kSegmentTypes)
    .Attr("Tindices: {int32, int64}")
    .SetShapeFn(SegmentShapeFn);

QUIVER_REGISTER_OP("SegmentMean")
    .Input("data: T")
    .Input("segment_ids: Tindices")
    .Output("output: T")
    .Attr(kSegmentTypes)
    .Attr("Tindices: {int32, int64}")
    .SetShapeFn(SegmentShapeFn);

}  // namespace quiver

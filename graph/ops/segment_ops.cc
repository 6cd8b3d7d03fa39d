// Segment reductions (TF's ops/math_ops.cc): UnsortedSegmentSum, the op tf.gather's gradient
// densifies into (tf.convert_to_tensor of its IndexedSlices) and tf.math.unsorted_segment_sum.
//
//   output[i, ...] = sum over j with segment_ids[j...] == i of data[j..., ...]
//
// output shape: [num_segments] + data.shape[segment_ids.rank:]. Negative ids are dropped (as in
// TF); ids >= num_segments are an error on every device (TF's CPU kernel; its GPU kernel drops
// them silently).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

absl::Status UnsortedSegmentSumShapeFn(InferenceContext& c) {
  const TensorShape& data = c.input_shape(0);
  const TensorShape& ids = c.input_shape(1);
  const TensorShape& num = c.input_shape(2);
  if (!num.unknown_rank() && num.rank() != 0) {
    return c.Error(absl::StrCat("num_segments should be a scalar, not shape ", num.DebugString()));
  }
  int64_t num_segments = TensorShape::kUnknownDim;
  if (const Tensor* t = c.input_tensor(2); t != nullptr && t->valid()) {
    auto v = t->AsInt64Vector();
    if (!v.ok()) return c.Error(std::string(v.status().message()));
    if (v->size() != 1) return c.Error("num_segments should be a scalar");
    num_segments = (*v)[0];
    if (num_segments < 0) {
      return c.Error(absl::StrCat("num_segments == ", num_segments, " must not be negative"));
    }
  }
  if (data.unknown_rank() || ids.unknown_rank()) {
    c.set_output(0, TensorShape::UnknownRank());
    return absl::OkStatus();
  }
  if (ids.rank() > data.rank()) {
    return c.Error(absl::StrCat("data.shape = ", data.DebugString(),
                                " does not start with segment_ids.shape = ", ids.DebugString()));
  }
  for (int d = 0; d < ids.rank(); ++d) {
    if (data.dim(d) >= 0 && ids.dim(d) >= 0 && data.dim(d) != ids.dim(d)) {
      return c.Error(absl::StrCat("data.shape = ", data.DebugString(),
                                  " does not start with segment_ids.shape = ", ids.DebugString()));
    }
  }
  std::vector<int64_t> dims = {num_segments};
  for (int d = ids.rank(); d < data.rank(); ++d) dims.push_back(data.dim(d));
  c.set_output(0, TensorShape(dims));
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("UnsortedSegmentSum")
    .Input("data: T")
    .Input("segment_ids: Tindices")
    .Input("num_segments: Tnumsegments")
    .Output("output: T")
    .Attr(
        "T: {float, double, int32, uint8, int16, int8, int64, bfloat16, uint16, half, uint32, "
        "uint64}")
    .Attr("Tindices: {int16, int32, int64}")
    .Attr("Tnumsegments: {int32, int64} = DT_INT32")
    .SetShapeFn(UnsortedSegmentSumShapeFn);

}  // namespace quiver

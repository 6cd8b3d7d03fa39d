// Object-detection post-processing ops (SSD / Faster R-CNN exports): NonMaxSuppressionV3, V4
// and V5 and CropAndResize. Signatures follow TensorFlow's ops/image_ops.cc (same arg and attr
// names, type lists and defaults). No gradients: TF registers none for NMS, and CropAndResize's
// gradient ops are not provided.
#include <string>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

absl::Status CheckRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != rank) {
    return c.Error(absl::StrCat(what, " must be ", rank == 0 ? "0-D" : absl::StrCat(rank, "-D"),
                                ", got shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

// Dim `d` of input `i`, or kUnknown.
int64_t DimOf(const InferenceContext& c, int i, int d) {
  const TensorShape& s = c.input_shape(i);
  return s.unknown_rank() || s.rank() <= d ? kUnknown : s.dim(d);
}

// boxes [n, 4] and scores [n]; the thresholds (and soft_nms_sigma) scalars.
absl::Status CheckNmsInputs(const InferenceContext& c, int num_scalars) {
  RETURN_IF_ERROR(CheckRank(c, 0, 2, "boxes"));
  RETURN_IF_ERROR(CheckRank(c, 1, 1, "scores"));
  const int64_t cols = DimOf(c, 0, 1);
  if (cols != kUnknown && cols != 4) {
    return c.Error(
        absl::StrCat("boxes must have 4 columns, got shape ", c.input_shape(0).DebugString()));
  }
  const int64_t n = DimOf(c, 0, 0), ns = DimOf(c, 1, 0);
  if (n != kUnknown && ns != kUnknown && n != ns) {
    return c.Error(absl::StrCat("scores has incompatible shape: boxes ",
                                c.input_shape(0).DebugString(), ", scores ",
                                c.input_shape(1).DebugString()));
  }
  RETURN_IF_ERROR(CheckRank(c, 2, 0, "max_output_size"));
  static const char* const kNames[] = {"iou_threshold", "score_threshold", "soft_nms_sigma"};
  for (int k = 0; k < num_scalars; ++k) RETURN_IF_ERROR(CheckRank(c, 3 + k, 0, kNames[k]));
  return absl::OkStatus();
}

// [max_output_size] when padded and max_output_size is a known constant, else [?].
absl::StatusOr<TensorShape> NmsOutputShape(const InferenceContext& c, bool pad) {
  if (!pad) return TensorShape{kUnknown};
  const Tensor* m = c.input_tensor(2);
  if (m == nullptr || !m->valid() || m->num_elements() != 1) return TensorShape{kUnknown};
  auto v = m->AsInt64Vector();
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  if ((*v)[0] < 0) return c.Error("max_output_size must be non-negative");
  return TensorShape{(*v)[0]};
}

absl::Status NmsV3ShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckNmsInputs(c, 2));
  c.set_output(0, TensorShape{kUnknown});
  return absl::OkStatus();
}

absl::Status NmsV4ShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckNmsInputs(c, 2));
  ASSIGN_OR_RETURN(bool pad, c.GetAttr<bool>("pad_to_max_output_size"));
  ASSIGN_OR_RETURN(TensorShape out, NmsOutputShape(c, pad));
  c.set_output(0, out);
  c.set_output(1, TensorShape{});
  return absl::OkStatus();
}

absl::Status NmsV5ShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckNmsInputs(c, 3));
  ASSIGN_OR_RETURN(bool pad, c.GetAttr<bool>("pad_to_max_output_size"));
  ASSIGN_OR_RETURN(TensorShape out, NmsOutputShape(c, pad));
  c.set_output(0, out);
  c.set_output(1, out);
  c.set_output(2, TensorShape{});
  return absl::OkStatus();
}

absl::Status CropAndResizeShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckRank(c, 0, 4, "image"));
  RETURN_IF_ERROR(CheckRank(c, 1, 2, "boxes"));
  RETURN_IF_ERROR(CheckRank(c, 2, 1, "box_ind"));
  RETURN_IF_ERROR(CheckRank(c, 3, 1, "crop_size"));
  const int64_t cols = DimOf(c, 1, 1);
  if (cols != kUnknown && cols != 4) {
    return c.Error(
        absl::StrCat("boxes must have 4 columns, got shape ", c.input_shape(1).DebugString()));
  }
  int64_t n = DimOf(c, 1, 0);
  const int64_t nb = DimOf(c, 2, 0);
  if (n != kUnknown && nb != kUnknown && n != nb) {
    return c.Error(absl::StrCat("box_ind has incompatible shape: boxes ",
                                c.input_shape(1).DebugString(), ", box_ind ",
                                c.input_shape(2).DebugString()));
  }
  if (n == kUnknown) n = nb;
  const int64_t cs = DimOf(c, 3, 0);
  if (cs != kUnknown && cs != 2) {
    return c.Error(absl::StrCat("crop_size must be a 1-D tensor of length 2, got shape ",
                                c.input_shape(3).DebugString()));
  }
  int64_t ch = kUnknown, cw = kUnknown;
  const Tensor* t = c.input_tensor(3);
  if (t != nullptr && t->valid() && t->num_elements() == 2) {
    auto v = t->AsInt64Vector();
    if (!v.ok()) return c.Error(std::string(v.status().message()));
    if ((*v)[0] <= 0 || (*v)[1] <= 0) return c.Error("crop dimensions must be positive");
    ch = (*v)[0];
    cw = (*v)[1];
  }
  c.set_output(0, TensorShape{n, ch, cw, DimOf(c, 0, 3)});
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("NonMaxSuppressionV3")
    .Input("boxes: T")
    .Input("scores: T")
    .Input("max_output_size: int32")
    .Input("iou_threshold: T_threshold")
    .Input("score_threshold: T_threshold")
    .Output("selected_indices: int32")
    .Attr("T: {half, float} = DT_FLOAT")
    .Attr("T_threshold: {half, float} = DT_FLOAT")
    .SetShapeFn(NmsV3ShapeFn);

QUIVER_REGISTER_OP("NonMaxSuppressionV4")
    .Input("boxes: T")
    .Input("scores: T")
    .Input("max_output_size: int32")
    .Input("iou_threshold: T_threshold")
    .Input("score_threshold: T_threshold")
    .Output("selected_indices: int32")
    .Output("valid_outputs: int32")
    .Attr("T: {half, float} = DT_FLOAT")
    .Attr("T_threshold: {half, float} = DT_FLOAT")
    .Attr("pad_to_max_output_size: bool = false")
    .SetShapeFn(NmsV4ShapeFn);

QUIVER_REGISTER_OP("NonMaxSuppressionV5")
    .Input("boxes: T")
    .Input("scores: T")
    .Input("max_output_size: int32")
    .Input("iou_threshold: T")
    .Input("score_threshold: T")
    .Input("soft_nms_sigma: T")
    .Output("selected_indices: int32")
    .Output("selected_scores: T")
    .Output("valid_outputs: int32")
    .Attr("T: {half, float} = DT_FLOAT")
    .Attr("pad_to_max_output_size: bool = false")
    .SetShapeFn(NmsV5ShapeFn);

QUIVER_REGISTER_OP("CropAndResize")
    .Input("image: T")
    .Input("boxes: float")
    .Input("box_ind: int32")
    .Input("crop_size: int32")
    .Output("crops: float")
    .Attr("T: {uint8, uint16, int8, int16, int32, int64, half, bfloat16, float, double}")
    .Attr("method: {'bilinear', 'nearest'} = 'bilinear'")
    .Attr("extrapolation_value: float = 0")
    .SetShapeFn(CropAndResizeShapeFn);

}  // namespace quiver

// Gradients of the image resizes (TF's image_grad.py) and of the space/batch/depth
// rearrangements (array_grad.py): ResizeBilinear -> ResizeBilinearGrad, ResizeNearestNeighbor ->
// ResizeNearestNeighborGrad, and DepthToSpace/SpaceToDepth and SpaceToBatchND/BatchToSpaceND,
// each the other's gradient. No gradient flows to the size, block_shape, paddings or crops.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/gradients.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

using grad::Input;
using GradOutputs = std::vector<Output>;

// The forward node's attrs among `names`.
AttrMap CopyAttrs(const Node& op, const std::vector<std::string>& names) {
  AttrMap attrs;
  for (const std::string& name : names) {
    auto it = op.attrs().find(name);
    if (it != op.attrs().end()) attrs[name] = it->second;
  }
  return attrs;
}

absl::Status ResizeBilinearGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                GradOutputs* gi) {
  Output image = Input(b, op, 0);
  const DataType t = image.dtype();
  // ResizeBilinearGrad returns the image's dtype and exists for floating images only; an
  // integer image gets no gradient, as in TF.
  if (t != DT_FLOAT && t != DT_DOUBLE && t != DT_HALF && t != DT_BFLOAT16) return absl::OkStatus();
  (*gi)[0] = b.Op("ResizeBilinearGrad", {g[0], image},
                  CopyAttrs(op, {"align_corners", "half_pixel_centers"}), "ResizeBilinearGrad");
  return absl::OkStatus();
}

absl::Status ResizeNearestNeighborGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                                       GradOutputs* gi) {
  Output image = Input(b, op, 0);
  const DataType t = image.dtype();
  // ResizeNearestNeighborGrad's types (TF's list); other images get no gradient.
  if (t != DT_FLOAT && t != DT_DOUBLE && t != DT_HALF && t != DT_BFLOAT16 && t != DT_INT32 &&
      t != DT_INT8 && t != DT_UINT8) {
    return absl::OkStatus();
  }
  // The original [height, width]: a constant when known, else sliced from Shape(image).
  const TensorShape& s = image.shape();
  Output size;
  if (!s.unknown_rank() && s.rank() == 4 && s.dim(1) >= 0 && s.dim(2) >= 0) {
    size = grad::IntConst(b, {s.dim(1), s.dim(2)}, "size");
  } else {
    size = b.Op("Slice",
                {Shape(image), grad::IntConst(b, {1}, "begin"), grad::IntConst(b, {2}, "len")}, {},
                "size");
  }
  (*gi)[0] =
      b.Op("ResizeNearestNeighborGrad", {g[0], size},
           CopyAttrs(op, {"align_corners", "half_pixel_centers"}), "ResizeNearestNeighborGrad");
  return absl::OkStatus();
}

// DepthToSpace <-> SpaceToDepth with the same block_size and data_format.
absl::Status DepthSpaceGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                            GradOutputs* gi) {
  ASSIGN_OR_RETURN(std::string data_format, op.GetAttr<std::string>("data_format"));
  if (data_format == "NCHW_VECT_C") {
    return grad::Error(op, "no gradient for data_format NCHW_VECT_C");
  }
  const std::string inverse = op.op() == "DepthToSpace" ? "SpaceToDepth" : "DepthToSpace";
  (*gi)[0] = b.Op(inverse, {g[0]}, CopyAttrs(op, {"block_size", "data_format"}), inverse);
  return absl::OkStatus();
}

// SpaceToBatchND <-> BatchToSpaceND with the same block_shape and paddings (as crops).
absl::Status SpaceBatchGrad(GraphBuilder& b, const Node& op, const GradOutputs& g,
                            GradOutputs* gi) {
  const std::string inverse = op.op() == "SpaceToBatchND" ? "BatchToSpaceND" : "SpaceToBatchND";
  (*gi)[0] = b.Op(inverse, {g[0], Input(b, op, 1), Input(b, op, 2)}, {}, inverse);
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_GRADIENT("ResizeBilinear", ResizeBilinearGrad);
QUIVER_REGISTER_GRADIENT("ResizeNearestNeighbor", ResizeNearestNeighborGrad);
QUIVER_REGISTER_GRADIENT("DepthToSpace", DepthSpaceGrad);
QUIVER_REGISTER_GRADIENT("SpaceToDepth", DepthSpaceGrad);
QUIVER_REGISTER_GRADIENT("SpaceToBatchND", SpaceBatchGrad);
QUIVER_REGISTER_GRADIENT("BatchToSpaceND", SpaceBatchGrad);

}  // namespace quiver

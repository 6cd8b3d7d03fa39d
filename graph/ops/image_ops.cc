// Image resizing and space/batch/depth rearrangement ops: signatures follow TensorFlow's
// ops/image_ops.cc (ResizeBilinear, ResizeNearestNeighbor and their gradients) and
// ops/array_ops.cc (DepthToSpace, SpaceToDepth, SpaceToBatchND, BatchToSpaceND), with the same
// arg and attr names and defaults, so imported GraphDefs resolve unchanged. The shape arithmetic
// (image_shapes.h) is shared with the CPU kernels.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops/image_shapes.h"
#include "graph/status_macros.h"

namespace quiver {

namespace image_shapes {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// a * b, or unknown when either is.
int64_t MulDim(int64_t a, int64_t b) { return a < 0 || b < 0 ? kUnknown : a * b; }

// Checks block_shape and the [M, 2] paddings/crops (`what`) against each other and the input.
absl::Status CheckBlockAndPads(const TensorShape& input, const std::vector<int64_t>* block, int m,
                               const std::vector<int64_t>* pads, const char* what) {
  if (block != nullptr) {
    for (size_t i = 0; i < block->size(); ++i) {
      if ((*block)[i] < 1) {
        return Invalid(absl::StrCat("block_shape values must be positive, got [",
                                    absl::StrJoin(*block, ", "), "]"));
      }
    }
  }
  if (pads != nullptr) {
    if (m >= 0 && static_cast<int>(pads->size()) != 2 * m) {
      return Invalid(
          absl::StrCat(what, " should have shape [", m, ", 2], got ", pads->size(), " values"));
    }
    for (int64_t p : *pads) {
      if (p < 0) {
        return Invalid(
            absl::StrCat(what, " must be non-negative, got [", absl::StrJoin(*pads, ", "), "]"));
      }
    }
  }
  if (m >= 0 && !input.unknown_rank() && input.rank() < 1 + m) {
    return Invalid(absl::StrCat("input rank should be >= ", 1 + m, " (1 + the ", m,
                                " block_shape entries), got shape ", input.DebugString()));
  }
  return absl::OkStatus();
}

// The block length M from the values or the block input's length (-1: unknown).
int BlockLength(const std::vector<int64_t>* block, int block_len) {
  return block != nullptr ? static_cast<int>(block->size()) : block_len;
}

// The shape with the input's rank and every dim unknown except the remaining ones (after
// 1 + m), which pass through; unknown rank when the input's is.
TensorShape PartialSpaceShape(const TensorShape& input, int m) {
  if (input.unknown_rank()) return TensorShape::UnknownRank();
  std::vector<int64_t> dims(input.rank(), kUnknown);
  if (m >= 0) {
    for (int d = 1 + m; d < input.rank(); ++d) dims[d] = input.dim(d);
  }
  return TensorShape(std::move(dims));
}

// Positions of (depth, height, width) in a 4-D shape of `data_format`.
absl::StatusOr<std::array<int, 3>> DepthLayout(const TensorShape& input,
                                               const std::string& data_format) {
  if (!input.unknown_rank() && input.rank() != 4) {
    return Invalid(absl::StrCat("input must be 4-D, got shape ", input.DebugString()));
  }
  if (data_format == "NHWC") return std::array<int, 3>{3, 1, 2};
  if (data_format == "NCHW") return std::array<int, 3>{1, 2, 3};
  return Invalid(absl::StrCat("data_format '", data_format, "' is not supported"));
}

}  // namespace

absl::StatusOr<TensorShape> ResizeShape(const TensorShape& images, const std::vector<int64_t>* size,
                                        bool align_corners, bool half_pixel_centers) {
  if (half_pixel_centers && align_corners) {
    return Invalid("If half_pixel_centers is True, align_corners must be False.");
  }
  if (!images.unknown_rank() && images.rank() != 4) {
    return Invalid(absl::StrCat("input must be 4-dimensional, got shape ", images.DebugString()));
  }
  if (size != nullptr) {
    if (size->size() != 2) {
      return Invalid(absl::StrCat("size must have two elements, got ", size->size()));
    }
    if ((*size)[0] <= 0 || (*size)[1] <= 0) {
      return Invalid(absl::StrCat("output dimensions must be positive, got size [", (*size)[0],
                                  ", ", (*size)[1], "]"));
    }
  }
  const int64_t out_h = size != nullptr ? (*size)[0] : kUnknown;
  const int64_t out_w = size != nullptr ? (*size)[1] : kUnknown;
  if (images.unknown_rank()) return TensorShape{kUnknown, out_h, out_w, kUnknown};
  if (images.dim(3) == 0) return Invalid("image must have at least one channel");
  if (images.dim(1) == 0 || images.dim(2) == 0) {
    return Invalid(
        absl::StrCat("input image must be of non-zero size, got shape ", images.DebugString()));
  }
  constexpr int64_t kMaxInt32 = 0x7fffffff;
  if (images.dim(1) >= kMaxInt32 || images.dim(2) >= kMaxInt32) {
    return Invalid("input sizes must be between 0 and max int32");
  }
  return TensorShape{images.dim(0), out_h, out_w, images.dim(3)};
}

absl::StatusOr<TensorShape> DepthToSpaceShape(const TensorShape& input, int64_t block_size,
                                              const std::string& data_format) {
  if (block_size < 2) return Invalid(absl::StrCat("block_size must be >= 2, got ", block_size));
  ASSIGN_OR_RETURN(auto layout, DepthLayout(input, data_format));
  if (input.unknown_rank()) return TensorShape{kUnknown, kUnknown, kUnknown, kUnknown};
  const auto [c, h, w] = layout;
  std::vector<int64_t> dims = input.dims();
  const int64_t sq = block_size * block_size;
  if (dims[c] >= 0 && dims[c] % sq != 0) {
    return Invalid(absl::StrCat("input depth ", dims[c],
                                " is not divisible by block_size * block_size = ", sq,
                                " (input shape ", input.DebugString(), ")"));
  }
  dims[c] = dims[c] < 0 ? kUnknown : dims[c] / sq;
  dims[h] = MulDim(dims[h], block_size);
  dims[w] = MulDim(dims[w], block_size);
  return TensorShape(std::move(dims));
}

absl::StatusOr<TensorShape> SpaceToDepthShape(const TensorShape& input, int64_t block_size,
                                              const std::string& data_format) {
  if (block_size < 2) return Invalid(absl::StrCat("block_size must be >= 2, got ", block_size));
  ASSIGN_OR_RETURN(auto layout, DepthLayout(input, data_format));
  if (input.unknown_rank()) return TensorShape{kUnknown, kUnknown, kUnknown, kUnknown};
  const auto [c, h, w] = layout;
  std::vector<int64_t> dims = input.dims();
  for (int d : {h, w}) {
    if (dims[d] >= 0 && dims[d] % block_size != 0) {
      return Invalid(absl::StrCat("image height and width must be divisible by block_size ",
                                  block_size, ", got input shape ", input.DebugString()));
    }
    dims[d] = dims[d] < 0 ? kUnknown : dims[d] / block_size;
  }
  dims[c] = MulDim(dims[c], block_size * block_size);
  return TensorShape(std::move(dims));
}

absl::StatusOr<TensorShape> SpaceToBatchShape(const TensorShape& input,
                                              const std::vector<int64_t>* block, int block_len,
                                              const std::vector<int64_t>* paddings) {
  const int m = BlockLength(block, block_len);
  RETURN_IF_ERROR(CheckBlockAndPads(input, block, m, paddings, "paddings"));
  TensorShape out = PartialSpaceShape(input, m);
  if (input.unknown_rank() || block == nullptr) return out;
  int64_t prod = 1;
  for (int i = 0; i < m; ++i) {
    prod *= (*block)[i];
    const int64_t d = input.dim(1 + i);
    if (paddings == nullptr || d < 0) continue;
    const int64_t padded = d + (*paddings)[2 * i] + (*paddings)[2 * i + 1];
    if (padded % (*block)[i] != 0) {
      return Invalid(absl::StrCat("padded spatial dimension ", i, " (", d, " + ",
                                  (*paddings)[2 * i], " + ", (*paddings)[2 * i + 1], " = ", padded,
                                  ") is not divisible by block_shape[", i, "] = ", (*block)[i]));
    }
    out.set_dim(1 + i, padded / (*block)[i]);
  }
  out.set_dim(0, MulDim(input.dim(0), prod));
  return out;
}

absl::StatusOr<TensorShape> BatchToSpaceShape(const TensorShape& input,
                                              const std::vector<int64_t>* block, int block_len,
                                              const std::vector<int64_t>* crops) {
  const int m = BlockLength(block, block_len);
  RETURN_IF_ERROR(CheckBlockAndPads(input, block, m, crops, "crops"));
  TensorShape out = PartialSpaceShape(input, m);
  if (input.unknown_rank() || block == nullptr) return out;
  int64_t prod = 1;
  for (int i = 0; i < m; ++i) {
    prod *= (*block)[i];
    const int64_t d = input.dim(1 + i);
    if (crops == nullptr || d < 0) continue;
    const int64_t full = d * (*block)[i];
    const int64_t cropped = full - (*crops)[2 * i] - (*crops)[2 * i + 1];
    if (cropped < 0) {
      return Invalid(absl::StrCat("crops [", (*crops)[2 * i], ", ", (*crops)[2 * i + 1],
                                  "] of spatial dimension ", i, " exceed its size ", full,
                                  " (input ", d, " x block ", (*block)[i], ")"));
    }
    out.set_dim(1 + i, cropped);
  }
  if (input.dim(0) >= 0) {
    if (input.dim(0) % prod != 0) {
      return Invalid(absl::StrCat("input batch dimension ", input.dim(0),
                                  " is not divisible by the product of block_shape (", prod,
                                  "), input shape ", input.DebugString()));
    }
    out.set_dim(0, input.dim(0) / prod);
  }
  return out;
}

}  // namespace image_shapes

namespace {

namespace is = image_shapes;
using std::optional;
using std::vector;

// Prefixes a helper's error with the node name and op.
template <typename T>
absl::StatusOr<T> Wrap(const InferenceContext& c, absl::StatusOr<T> v) {
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  return v;
}

// The values of constant integer input i, or nullopt when not known at graph-construction time.
absl::StatusOr<optional<vector<int64_t>>> ConstInts(const InferenceContext& c, int i) {
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr || !t->valid()) return optional<vector<int64_t>>();
  auto v = t->AsInt64Vector();
  if (!v.ok()) return c.Error(absl::StrCat("input ", i, ": ", v.status().message()));
  return optional<vector<int64_t>>(*std::move(v));
}

// Checks that input i has rank `rank` (and, when `dim0` >= 0, that many entries along dim 0)
// when known.
absl::Status CheckInputShape(const InferenceContext& c, int i, int rank, int64_t dim0,
                             const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank()) return absl::OkStatus();
  if (s.rank() != rank || (dim0 >= 0 && s.dim(0) >= 0 && s.dim(0) != dim0)) {
    return c.Error(
        absl::StrCat("'", what, "' must be ",
                     dim0 >= 0 ? absl::StrCat("of shape [", dim0, "]") : absl::StrCat(rank, "-D"),
                     ", got shape ", s.DebugString()));
  }
  return absl::OkStatus();
}

absl::Status ResizeShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(bool align_corners, c.GetAttr<bool>("align_corners"));
  ASSIGN_OR_RETURN(bool half_pixel_centers, c.GetAttr<bool>("half_pixel_centers"));
  RETURN_IF_ERROR(CheckInputShape(c, 1, 1, 2, "size"));
  ASSIGN_OR_RETURN(auto size, ConstInts(c, 1));
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, is::ResizeShape(c.input_shape(0), size ? &*size : nullptr, align_corners,
                                           half_pixel_centers)));
  c.set_output(0, out);
  return absl::OkStatus();
}

// ResizeBilinearGrad: the gradient has the original image's shape.
absl::Status ResizeBilinearGradShapeFn(InferenceContext& c) {
  RETURN_IF_ERROR(CheckInputShape(c, 0, 4, -1, "grads"));
  RETURN_IF_ERROR(CheckInputShape(c, 1, 4, -1, "original_image"));
  ASSIGN_OR_RETURN(bool align_corners, c.GetAttr<bool>("align_corners"));
  ASSIGN_OR_RETURN(bool half_pixel_centers, c.GetAttr<bool>("half_pixel_centers"));
  if (align_corners && half_pixel_centers) {
    return c.Error("If half_pixel_centers is True, align_corners must be False.");
  }
  c.set_output(0, c.input_shape(1));
  return absl::OkStatus();
}

// ResizeNearestNeighborGrad: [batch, size[0], size[1], channels] of the incoming gradient.
absl::Status ResizeNearestNeighborGradShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(bool align_corners, c.GetAttr<bool>("align_corners"));
  ASSIGN_OR_RETURN(bool half_pixel_centers, c.GetAttr<bool>("half_pixel_centers"));
  if (align_corners && half_pixel_centers) {
    return c.Error("If half_pixel_centers is True, align_corners must be False.");
  }
  RETURN_IF_ERROR(CheckInputShape(c, 0, 4, -1, "grads"));
  RETURN_IF_ERROR(CheckInputShape(c, 1, 1, 2, "size"));
  ASSIGN_OR_RETURN(auto size, ConstInts(c, 1));
  if (size && (size->size() != 2 || (*size)[0] <= 0 || (*size)[1] <= 0)) {
    return c.Error(
        absl::StrCat("size must hold two positive values, got [", absl::StrJoin(*size, ", "), "]"));
  }
  const TensorShape& g = c.input_shape(0);
  const int64_t kUnknown = TensorShape::kUnknownDim;
  c.set_output(0,
               TensorShape{g.unknown_rank() ? kUnknown : g.dim(0), size ? (*size)[0] : kUnknown,
                           size ? (*size)[1] : kUnknown, g.unknown_rank() ? kUnknown : g.dim(3)});
  return absl::OkStatus();
}

template <bool kToSpace>
absl::Status DepthShapeFn(InferenceContext& c) {
  ASSIGN_OR_RETURN(int64_t block_size, c.GetAttr<int64_t>("block_size"));
  ASSIGN_OR_RETURN(std::string data_format, c.GetAttr<std::string>("data_format"));
  const TensorShape& in = c.input_shape(0);
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, kToSpace ? is::DepthToSpaceShape(in, block_size, data_format)
                                    : is::SpaceToDepthShape(in, block_size, data_format)));
  c.set_output(0, out);
  return absl::OkStatus();
}

// SpaceToBatchND (kToBatch) and BatchToSpaceND: input, block_shape [M], paddings/crops [M, 2].
template <bool kToBatch>
absl::Status SpaceBatchShapeFn(InferenceContext& c) {
  const char* what = kToBatch ? "paddings" : "crops";
  RETURN_IF_ERROR(CheckInputShape(c, 1, 1, -1, "block_shape"));
  const TensorShape& bs = c.input_shape(1);
  if (!bs.unknown_rank() && bs.dim(0) > (1 << 20)) return c.Error("block_shape is too long");
  int block_len = bs.unknown_rank() || bs.dim(0) < 0 ? -1 : static_cast<int>(bs.dim(0));
  const TensorShape& ps = c.input_shape(2);
  if (!ps.unknown_rank()) {
    if (ps.rank() != 2 || (ps.dim(1) >= 0 && ps.dim(1) != 2) ||
        (block_len >= 0 && ps.dim(0) >= 0 && ps.dim(0) != block_len)) {
      return c.Error(absl::StrCat(what, " should have shape [", block_len < 0 ? "M" : "",
                                  block_len < 0 ? "" : absl::StrCat(block_len), ", 2], got shape ",
                                  ps.DebugString()));
    }
    if (block_len < 0 && ps.dim(0) >= 0 && ps.dim(0) <= (1 << 20)) {
      block_len = static_cast<int>(ps.dim(0));
    }
  }
  ASSIGN_OR_RETURN(auto block, ConstInts(c, 1));
  ASSIGN_OR_RETURN(auto pads, ConstInts(c, 2));
  const TensorShape& in = c.input_shape(0);
  ASSIGN_OR_RETURN(TensorShape out,
                   Wrap(c, kToBatch ? is::SpaceToBatchShape(in, block ? &*block : nullptr,
                                                            block_len, pads ? &*pads : nullptr)
                                    : is::BatchToSpaceShape(in, block ? &*block : nullptr,
                                                            block_len, pads ? &*pads : nullptr)));
  c.set_output(0, out);
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("ResizeBilinear")
    .Input("images: T")
    .Input("size: int32")
    .Output("resized_images: float")
    .Attr("T: {int8, uint8, int16, uint16, int32, int64, bfloat16, half, float, double}")
    .Attr("align_corners: bool = false")
    .Attr("half_pixel_centers: bool = false")
    .SetShapeFn(ResizeShapeFn);

QUIVER_REGISTER_OP("ResizeBilinearGrad")
    .Input("grads: float")
    .Input("original_image: T")
    .Output("output: T")
    .Attr("T: {float, bfloat16, half, double}")
    .Attr("align_corners: bool = false")
    .Attr("half_pixel_centers: bool = false")
    .SetShapeFn(ResizeBilinearGradShapeFn);

QUIVER_REGISTER_OP("ResizeNearestNeighbor")
    .Input("images: T")
    .Input("size: int32")
    .Output("resized_images: T")
    .Attr("T: {int8, uint8, int16, uint16, int32, int64, half, float, double, bfloat16}")
    .Attr("align_corners: bool = false")
    .Attr("half_pixel_centers: bool = false")
    .SetShapeFn(ResizeShapeFn);

QUIVER_REGISTER_OP("ResizeNearestNeighborGrad")
    .Input("grads: T")
    .Input("size: int32")
    .Output("output: T")
    .Attr("T: {uint8, int8, int32, half, float, double, bfloat16}")
    .Attr("align_corners: bool = false")
    .Attr("half_pixel_centers: bool = false")
    .SetShapeFn(ResizeNearestNeighborGradShapeFn);

QUIVER_REGISTER_OP("DepthToSpace")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("block_size: int >= 2")
    .Attr("data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'")
    .SetShapeFn(DepthShapeFn<true>);

QUIVER_REGISTER_OP("SpaceToDepth")
    .Input("input: T")
    .Output("output: T")
    .Attr("T: type")
    .Attr("block_size: int >= 2")
    .Attr("data_format: {'NHWC', 'NCHW', 'NCHW_VECT_C'} = 'NHWC'")
    .SetShapeFn(DepthShapeFn<false>);

QUIVER_REGISTER_OP("SpaceToBatchND")
    .Input("input: T")
    .Input("block_shape: Tblock_shape")
    .Input("paddings: Tpaddings")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tblock_shape: {int32, int64} = DT_INT32")
    .Attr("Tpaddings: {int32, int64} = DT_INT32")
    .SetShapeFn(SpaceBatchShapeFn<true>);

QUIVER_REGISTER_OP("BatchToSpaceND")
    .Input("input: T")
    .Input("block_shape: Tblock_shape")
    .Input("crops: Tcrops")
    .Output("output: T")
    .Attr("T: type")
    .Attr("Tblock_shape: {int32, int64} = DT_INT32")
    .Attr("Tcrops: {int32, int64} = DT_INT32")
    .SetShapeFn(SpaceBatchShapeFn<false>);

}  // namespace quiver

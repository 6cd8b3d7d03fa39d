// 3-D convolutions and pools (TF's nn_ops for video and volumetric graphs): Conv3D, its two
// gradients Conv3DBackpropInputV2 / Conv3DBackpropFilterV2, MaxPool3D, AvgPool3D and their
// gradients MaxPool3DGrad / AvgPool3DGrad. Signatures, attrs and defaults are TF's (padding
// SAME or VALID only: TF's 3-D ops have no EXPLICIT). The shape functions accept either data
// format, as TF's do; the CPU kernels take NDHWC only and say so.
//
// Output sizes are TF's: SAME gives ceil(in / stride), VALID (in - effective_k) / stride + 1,
// the arithmetic of the 2-D ops (graph/ops/nn_ops.cc, devices/cpu/onednn_util.cc).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace quiver {
namespace {

constexpr int64_t kUnknown = TensorShape::kUnknownDim;

TensorShape UnknownDims(int rank) { return TensorShape(std::vector<int64_t>(rank, kUnknown)); }

absl::StatusOr<TensorShape> WithRank(const InferenceContext& c, int i, int rank, const char* what) {
  const TensorShape& s = c.input_shape(i);
  if (s.unknown_rank()) return UnknownDims(rank);
  if (s.rank() != rank) {
    return c.Error(absl::StrCat(what, " must be ", rank, "-D, got shape ", s.DebugString()));
  }
  return s;
}

// Dim indices of a 5-D tensor in a data_format.
struct Layout3D {
  int n, spatial[3], c;
};

absl::StatusOr<Layout3D> GetLayout3D(const InferenceContext& c) {
  absl::StatusOr<std::string> format = c.GetAttr<std::string>("data_format");
  if (!format.ok()) return format.status();
  if (*format == "NDHWC") return Layout3D{0, {1, 2, 3}, 4};
  if (*format == "NCDHW") return Layout3D{0, {2, 3, 4}, 1};
  return c.Error("data_format '" + *format + "' is not supported (NDHWC or NCDHW)");
}

// A list(int) attr of 5 entries that is 1 over batch and depth; returns the spatial entries.
// An absent attr (a pool's dilations) gives 1s.
absl::StatusOr<std::vector<int64_t>> GetSpatial3D(const InferenceContext& c, const char* name,
                                                  const Layout3D& l) {
  if (c.attrs().find(name) == c.attrs().end()) return std::vector<int64_t>{1, 1, 1};
  ASSIGN_OR_RETURN(std::vector<int64_t> v, c.GetAttr<std::vector<int64_t>>(name));
  if (v.size() != 5) {
    return c.Error(absl::StrCat(name, " must have 5 elements, got [", absl::StrJoin(v, ","), "]"));
  }
  if (v[l.n] != 1 || v[l.c] != 1) {
    return c.Error(absl::StrCat(name, " over the batch and depth dimensions must be 1, got [",
                                absl::StrJoin(v, ","), "]"));
  }
  std::vector<int64_t> s = {v[l.spatial[0]], v[l.spatial[1]], v[l.spatial[2]]};
  for (int64_t x : s) {
    if (x < 1) {
      return c.Error(absl::StrCat(name, " must be positive, got [", absl::StrJoin(v, ","), "]"));
    }
  }
  return s;
}

// TF's output size of one spatial dim (unknown when `in` or `k` is).
absl::StatusOr<int64_t> WindowOutput(const InferenceContext& c, int64_t in, int64_t k,
                                     int64_t stride, int64_t dilation, const std::string& padding,
                                     const char* dim) {
  if (in == kUnknown) return kUnknown;
  if (padding == "SAME") return in / stride + (in % stride != 0 ? 1 : 0);
  if (k == kUnknown) return kUnknown;
  int64_t eff_k = 0;
  if (k < 1 || __builtin_mul_overflow(k - 1, dilation, &eff_k) ||
      __builtin_add_overflow(eff_k, 1, &eff_k)) {
    return c.Error(absl::StrCat("the window (size ", k, ", dilation ", dilation, ") in ", dim,
                                " is not a positive size that fits in int64"));
  }
  if (in < eff_k) {
    return c.Error(absl::StrCat("the window (size ", k, ", dilation ", dilation,
                                ") is larger than the input ", dim, " (", in, ") with padding ",
                                padding, ": the output size would be negative"));
  }
  return (in - eff_k) / stride + 1;
}

// Sets the spatial dims of `out` from `input`'s and the window sizes `k`.
absl::Status SpatialOutput3D(const InferenceContext& c, const Layout3D& l, const TensorShape& input,
                             const std::vector<int64_t>& k, TensorShape* out) {
  ASSIGN_OR_RETURN(std::string padding, c.GetAttr<std::string>("padding"));
  if (padding != "SAME" && padding != "VALID") {
    return c.Error("padding must be SAME or VALID, got '" + padding + "'");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> strides, GetSpatial3D(c, "strides", l));
  ASSIGN_OR_RETURN(std::vector<int64_t> dilations, GetSpatial3D(c, "dilations", l));
  static const char* kDims[] = {"depth", "height", "width"};
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(int64_t o, WindowOutput(c, input.dim(l.spatial[i]), k[i], strides[i],
                                             dilations[i], padding, kDims[i]));
    out->set_dim(l.spatial[i], o);
  }
  return absl::OkStatus();
}

absl::Status Conv3DShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 5, "input"));
  ASSIGN_OR_RETURN(TensorShape filter, WithRank(c, 1, 5, "filter"));
  ASSIGN_OR_RETURN(Layout3D l, GetLayout3D(c));
  const int64_t in_c = input.dim(l.c), f_in = filter.dim(3);
  if (f_in == 0) return c.Error("the filter's in_channels (dim 3) must not be 0");
  if (in_c != kUnknown && f_in != kUnknown && in_c % f_in != 0) {
    return c.Error(absl::StrCat("input depth ", in_c, " of ", input.DebugString(),
                                " is not a multiple of the filter's in_channels ", f_in,
                                " (filter ", filter.DebugString(), ")"));
  }
  TensorShape out = input;
  out.set_dim(l.c, filter.dim(4));
  RETURN_IF_ERROR(
      SpatialOutput3D(c, l, input, {filter.dim(0), filter.dim(1), filter.dim(2)}, &out));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status Pool3DShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 5, "input"));
  ASSIGN_OR_RETURN(Layout3D l, GetLayout3D(c));
  ASSIGN_OR_RETURN(std::vector<int64_t> ksize, GetSpatial3D(c, "ksize", l));
  TensorShape out = input;
  RETURN_IF_ERROR(SpatialOutput3D(c, l, input, ksize, &out));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

// A 5-D shape from the 1-D size input `i` when its value is known, else `fallback`.
absl::StatusOr<TensorShape> ShapeFromSizes(const InferenceContext& c, int i, const char* what,
                                           const TensorShape& fallback) {
  const TensorShape& s = c.input_shape(i);
  if (!s.unknown_rank() && s.rank() != 1) {
    return c.Error(absl::StrCat(what, " must be 1-D, got shape ", s.DebugString()));
  }
  const Tensor* t = c.input_tensor(i);
  if (t == nullptr) return fallback;
  auto v = t->AsInt64Vector();
  if (!v.ok()) return c.Error(std::string(v.status().message()));
  if (v->size() != 5) return c.Error(absl::StrCat(what, " must have 5 elements, got ", v->size()));
  for (int64_t d : *v) {
    if (d < 0) return c.Error(absl::StrCat(what, " must be non-negative, got ", t->DebugString()));
  }
  return TensorShape(*v);
}

absl::Status Conv3DBackpropInputShape(InferenceContext& c) {
  RETURN_IF_ERROR(WithRank(c, 1, 5, "filter").status());
  ASSIGN_OR_RETURN(TensorShape out_backprop, WithRank(c, 2, 5, "out_backprop"));
  TensorShape fallback = UnknownDims(5);
  fallback.set_dim(0, out_backprop.dim(0));
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 0, "input_sizes", fallback));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status Conv3DBackpropFilterShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(Layout3D l, GetLayout3D(c));
  RETURN_IF_ERROR(WithRank(c, 0, 5, "input").status());
  ASSIGN_OR_RETURN(TensorShape out_backprop, WithRank(c, 2, 5, "out_backprop"));
  TensorShape fallback = UnknownDims(5);
  fallback.set_dim(4, out_backprop.dim(l.c));
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 1, "filter_sizes", fallback));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

absl::Status MaxPool3DGradShape(InferenceContext& c) {
  ASSIGN_OR_RETURN(TensorShape input, WithRank(c, 0, 5, "orig_input"));
  RETURN_IF_ERROR(WithRank(c, 1, 5, "orig_output").status());
  RETURN_IF_ERROR(WithRank(c, 2, 5, "grad").status());
  c.set_output(0, std::move(input));
  return absl::OkStatus();
}

absl::Status AvgPool3DGradShape(InferenceContext& c) {
  RETURN_IF_ERROR(WithRank(c, 1, 5, "grad").status());
  ASSIGN_OR_RETURN(TensorShape out, ShapeFromSizes(c, 0, "orig_input_shape", UnknownDims(5)));
  c.set_output(0, std::move(out));
  return absl::OkStatus();
}

}  // namespace

QUIVER_REGISTER_OP("Conv3D")
    .Input("input: T")
    .Input("filter: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1, 1]")
    .SetShapeFn(Conv3DShape);

QUIVER_REGISTER_OP("Conv3DBackpropInputV2")
    .Input("input_sizes: Tshape")
    .Input("filter: T")
    .Input("out_backprop: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1, 1]")
    .Attr("Tshape: {int32, int64} = DT_INT32")
    .SetShapeFn(Conv3DBackpropInputShape);

QUIVER_REGISTER_OP("Conv3DBackpropFilterV2")
    .Input("input: T")
    .Input("filter_sizes: int32")
    .Input("out_backprop: T")
    .Output("output: T")
    .Attr("T: {half, bfloat16, float, double}")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("dilations: list(int) = [1, 1, 1, 1, 1]")
    .SetShapeFn(Conv3DBackpropFilterShape);

QUIVER_REGISTER_OP("MaxPool3D")
    .Input("input: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 5")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("T: {half, bfloat16, float}")
    .SetShapeFn(Pool3DShape);

QUIVER_REGISTER_OP("AvgPool3D")
    .Input("input: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 5")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(Pool3DShape);

QUIVER_REGISTER_OP("MaxPool3DGrad")
    .Input("orig_input: TInput")
    .Input("orig_output: TInput")
    .Input("grad: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 5")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("T: {half, bfloat16, float} = DT_FLOAT")
    .Attr("TInput: {half, bfloat16, float} = DT_FLOAT")
    .SetShapeFn(MaxPool3DGradShape);

QUIVER_REGISTER_OP("AvgPool3DGrad")
    .Input("orig_input_shape: int32")
    .Input("grad: T")
    .Output("output: T")
    .Attr("ksize: list(int) >= 5")
    .Attr("strides: list(int) >= 5")
    .Attr("padding: {'SAME', 'VALID'}")
    .Attr("data_format: {'NDHWC', 'NCDHW'} = 'NDHWC'")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn(AvgPool3DGradShape);

}  // namespace quiver
